// A member whose client port serves HTTP/2 with Node's HTTP/2 and grpc-js (RXETCD_CLIENT_HTTP2=node)
// beside one with the port's own connection (the default): real clients get the same answers from both.
import { describeClientPortVariant } from "./client-port-variant.js";

describeClientPortVariant({
  title: "the client port serving HTTP/2 with Node's HTTP/2",
  env: { RXETCD_CLIENT_HTTP2: "node" },
  plainEnv: { RXETCD_CLIENT_HTTP2: "own" },
  logLine: /serving client HTTP\/2 with Node's HTTP\/2/,
  through: "through Node's HTTP/2",
  switchTitle: "the switch serves the client listener's HTTP/2 with Node's, and only with it",
});
