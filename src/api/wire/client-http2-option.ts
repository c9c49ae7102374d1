// RXETCD_CLIENT_HTTP2 chooses who serves the HTTP/2 of the member's client listeners: `own` (unset or
// empty too) serves h2c connections, and h2 ones over TLS, with the port's own HTTP/2 connection
// (src/api/wire/); `node` serves them with Node's HTTP/2, grpc-js and the fast paths, as before the own
// connection existed. Anything else is refused, so that a typo does not pass for the default.

export type ClientHttp2 = "node" | "own";

export function clientHttp2FromEnvironment(env: NodeJS.ProcessEnv): ClientHttp2 {
  const value = env.RXETCD_CLIENT_HTTP2;
  if (value === undefined || value === "" || value === "own") return "own";
  if (value === "node") return "node";
  throw new Error(
    `RXETCD_CLIENT_HTTP2: own serves the client port's HTTP/2 with its own connection, node with Node's; not ${value}`,
  );
}
