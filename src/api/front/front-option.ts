// The experimental switches of the client port's HTTP/2 thread: RXETCD_CLIENT_THREAD=1 moves the
// member's http:// client listeners to it; RXETCD_FRONT_URL=http://host:port makes a member also serve
// clients on one more port, from the thread (bench:front compares the two). Unset, nothing changes.
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

/**
 * RXETCD_CLIENT_THREAD=1: the member's http:// client listeners are served from the HTTP/2 thread.
 * Unset, empty or 0, they are not; any other value is refused (a typo must not pass for "off").
 */
export function clientThreadFromEnvironment(env: NodeJS.ProcessEnv): boolean {
  const value = env.RXETCD_CLIENT_THREAD;
  if (value === undefined || value === "" || value === "0") return false;
  if (value === "1") return true;
  throw new Error(`RXETCD_CLIENT_THREAD: 1 serves the client port from a thread, 0 does not; not ${value}`);
}
