// The experimental switch of the client port's HTTP/2 thread: RXETCD_FRONT_URL=http://host:port makes a
// member also serve the key-value RPCs there, from a worker thread. Unset, nothing changes.
import * as t from "io-ts";
import { decodeOrThrow } from "./front-messages.js";

const FrontUrl = new t.Type<URL, string, unknown>(
  "http://host:port",
  (u): u is URL => u instanceof URL,
  (u, c) => {
    if (typeof u !== "string") return t.failure(u, c);
    try {
      const url = new URL(u);
      return url.protocol === "http:" && url.port !== "" ? t.success(url) : t.failure(u, c);
    } catch {
      return t.failure(u, c);
    }
  },
  (url) => url.href,
);

/** The HTTP/2 thread's listen URL from the environment, or undefined when it is not asked for. */
export function frontFromEnvironment(env: NodeJS.ProcessEnv): { listenUrl: URL } | undefined {
  const value = env.RXETCD_FRONT_URL;
  if (value === undefined || value === "") return undefined;
  return { listenUrl: decodeOrThrow(FrontUrl, value, "RXETCD_FRONT_URL") };
}
