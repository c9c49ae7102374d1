// The client port's HTTP/2 thread (a worker_thread): it owns its listener and its connections, so that
// nghttp2, the HTTP/2 streams and their header objects cost this thread's CPU and not the main
// thread's. The key-value unary calls cross to the main thread as request bytes, batched per turn,
// and come back as framed answers (call-batch.ts). This is the first slice: h2c only, and only those
// four RPCs; any other stream is answered Unimplemented.
import { createServer as createHttp2Server } from "node:http2";
import { createServer as createNetServer } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { gateHttp2Connection } from "../grpc/authority-gate.js";
import { applyHeaderLimits } from "../grpc/header-limits.js";
import { readAnswers } from "./call-batch.js";
import { decodeOrThrow, type FrontReport, FrontWorkerOptions } from "./front-messages.js";
import { StreamCalls } from "./stream-calls.js";

const port = parentPort;
if (port === null) throw new Error("front-worker.js runs as a worker thread");
const options = decodeOrThrow(FrontWorkerOptions, workerData, "the HTTP/2 thread's options");
const report = (r: FrontReport) => port.postMessage(r);

const calls = new StreamCalls(options.maxReceiveBytes, (batch) => port.postMessage(batch, [batch]));
port.on("message", (message: unknown) => {
  if (message instanceof ArrayBuffer) readAnswers(message, (answer) => calls.answer(answer));
});

const h2 = createHttp2Server();
applyHeaderLimits(h2);
h2.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  const contentType = headers["content-type"];
  if (typeof contentType === "string" && contentType.startsWith("application/grpc")) {
    if (calls.take(stream, headers)) return;
    const [, service, method] = (headers[":path"] ?? "").split("/");
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "12",
        "grpc-message": encodeURI(`unknown method ${method} for service ${service}`),
      },
      { endStream: true },
    );
    return;
  }
  stream.respond({ ":status": 415 }, { endStream: true });
});

const listener = createNetServer((socket) => {
  // small request/response frames must not wait for Nagle and delayed ACKs
  socket.setNoDelay(true);
  socket.on("error", () => {}); // a client going away is routine
  gateHttp2Connection(socket, (connection) => h2.emit("connection", connection));
});
listener.on("error", (err) => report({ kind: "failed", message: err.message }));
listener.listen(options.port, options.host, () => {
  const address = listener.address();
  if (address === null || typeof address === "string") report({ kind: "failed", message: "no TCP address" });
  else report({ kind: "listening", port: address.port });
});
