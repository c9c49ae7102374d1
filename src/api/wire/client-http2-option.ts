// RXETCD_CLIENT_HTTP2 chooses who serves the HTTP/2 of the member's http:// client listeners: `node`
// (unset or empty too) keeps Node's HTTP/2 with grpc-js and the fast paths; `own` serves h2c
// connections with the port's own HTTP/2 connection (src/api/wire/). Anything else is refused, so that
// a typo does not pass for the default.

export type ClientHttp2 = "node" | "own";

export function clientHttp2FromEnvironment(env: NodeJS.ProcessEnv): ClientHttp2 {
  const value = env.RXETCD_CLIENT_HTTP2;
  if (value === undefined || value === "" || value === "node") return "node";
  if (value === "own") return "own";
  throw new Error(
    `RXETCD_CLIENT_HTTP2: own serves the client port's HTTP/2 with its own connection, node with Node's; not ${value}`,
  );
}
