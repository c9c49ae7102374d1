// A member whose client port is served from the HTTP/2 thread (RXETCD_CLIENT_THREAD=1): real clients get
// what they get from the usual port.
import { describeClientPortVariant } from "./client-port-variant.js";

describeClientPortVariant({
  title: "the client port served from the HTTP/2 thread",
  env: { RXETCD_CLIENT_THREAD: "1" },
  plainEnv: { RXETCD_CLIENT_THREAD: "0" },
  logLine: /serving client traffic from a thread/,
  through: "through the thread",
  switchTitle: "the switch moves the client listener to the thread, and only with it",
});
