// The client port's HTTP/2 thread (a worker_thread): it owns client listeners and their connections,
// so that nghttp2, the HTTP/2 streams and their header objects cost this thread's CPU and not the
// main thread's. The unary calls cross to the main thread as request bytes, batched per turn, and come
// back as framed answers (call-batch.ts). Everything else the port serves crosses as bytes over an
// in-process connection to the main thread's own servers (port-duplex.ts): the other gRPC streams
// one by one (stream-forwarder.ts), an HTTP/1.1 connection as a whole.
import { constants, createServer as createHttp2Server, type ServerHttp2Session } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { MessageChannel, parentPort, workerData } from "node:worker_threads";
import { gateHttp2Connection } from "../grpc/authority-gate.js";
import { isGrpcContentType } from "../grpc/grpc-content-type.js";
import { applyHeaderLimits } from "../grpc/header-limits.js";
import { enforcePingPolicy } from "../grpc/ping-policy.js";
import { carryAddress, nameWrappedConnection } from "../grpc/wrapped-connection.js";
import { sniffHttp2 } from "../sniff-http2.js";
import { BatchMethods, readAnswers } from "./call-batch.js";
import { decodeOrThrow, type FrontReport, FrontWorkerOptions } from "./front-messages.js";
import { type PeerAddress, PortDuplex } from "./port-duplex.js";
import { StreamCalls } from "./stream-calls.js";
import { StreamForwarder } from "./stream-forwarder.js";

const port = parentPort;
if (port === null) throw new Error("front-worker.js runs as a worker thread");
const options = decodeOrThrow(FrontWorkerOptions, workerData, "the HTTP/2 thread's options");
const report = (r: FrontReport) => port.postMessage(r);

const calls = new StreamCalls(options.maxReceiveBytes, new BatchMethods(options.batchPaths), (batch) =>
  port.postMessage(batch, [batch]),
);
port.on("message", (message: unknown) => {
  if (message instanceof ArrayBuffer) readAnswers(message, (answer) => calls.answer(answer));
});

/** A connection to the main thread's servers, for the client at `peer`. */
function connectionToMain(http2: boolean, peer: PeerAddress): PortDuplex {
  const channel = new MessageChannel();
  const message = { kind: "connection", http2, port: channel.port2, ...peer } as const;
  port?.postMessage(message, [channel.port2]);
  return new PortDuplex(channel.port1, peer);
}

function peerOf(socket: Socket | undefined): PeerAddress {
  return {
    ...(socket?.remoteAddress !== undefined ? { remoteAddress: socket.remoteAddress } : {}),
    ...(socket?.remotePort !== undefined ? { remotePort: socket.remotePort } : {}),
  };
}

const forwarder = new StreamForwarder((session) => connectionToMain(true, peerOf(session.socket as Socket)));
const unaryPaths = new Set(options.unaryPaths);

// grpc-js's server options: Node's 10 MB bound on a session's memory off (Node degrades badly once a
// session reaches it), any header block sent, the streams etcd allows
const h2 = createHttp2Server({
  maxSessionMemory: Number.MAX_SAFE_INTEGER,
  maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  ...(options.maxConcurrentStreams !== undefined
    ? { settings: { maxConcurrentStreams: options.maxConcurrentStreams } }
    : {}),
});
applyHeaderLimits(h2);
h2.on("session", (session: ServerHttp2Session) => {
  nameWrappedConnection(session);
  enforcePingPolicy(session, { minTimeMs: options.pingMinTimeMs, isUnary: (path) => unaryPaths.has(path) });
  pingClient(session);
});

/** Pings a client connection every interval and closes it when an answer does not come in time. */
function pingClient(session: ServerHttp2Session): void {
  let unanswered: NodeJS.Timeout | undefined;
  const every = setInterval(() => {
    if (unanswered !== undefined || session.closed || session.destroyed) return;
    unanswered = setTimeout(() => session.destroy(), options.pingTimeoutMs);
    try {
      session.ping(() => {
        clearTimeout(unanswered);
        unanswered = undefined;
      });
    } catch {
      session.destroy();
    }
  }, options.pingIntervalMs);
  every.unref();
  session.once("close", () => {
    clearInterval(every);
    clearTimeout(unanswered);
  });
}
// each path sets its stream's listeners (an error listener among them: a reset stream also errors)
h2.on("stream", (stream, headers) => {
  if (!isGrpcContentType(headers["content-type"])) {
    // these listeners are h2c, which etcd gives all to grpc-go (cmux): a stream that is not gRPC is reset
    stream.on("error", ignoreResetError);
    stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (calls.take(stream, headers)) return;
  forwarder.forward(stream, headers);
});

/** A stream closed with an error code reports it as an error of its own. */
function ignoreResetError(): void {}

/** An HTTP/1.1 connection: its bytes go to the main thread's HTTP server and back. */
function pipeToMain(socket: Socket): void {
  const main = connectionToMain(false, peerOf(socket));
  socket.pipe(main).pipe(socket);
  socket.on("close", () => main.destroy());
  // what the main thread wrote before it closed still reaches the client
  main.on("close", () => socket.destroySoon());
  main.on("error", () => {});
}

const servers: NetServer[] = options.listeners.map(() =>
  createNetServer((socket) => {
    // small request/response frames must not wait for Nagle and delayed ACKs
    socket.setNoDelay(true);
    socket.on("error", () => {}); // a client going away is routine
    sniffHttp2(socket, (http2) => {
      if (http2)
        gateHttp2Connection(socket, (connection) => {
          carryAddress(socket, connection);
          h2.emit("connection", connection);
        });
      else pipeToMain(socket);
    });
  }),
);

Promise.all(
  servers.map(
    (server, i) =>
      new Promise<number>((resolve, reject) => {
        const { host, port: listenPort } = options.listeners[i];
        server.once("error", reject);
        server.listen(listenPort, host, () => {
          server.off("error", reject);
          const address = server.address();
          if (address === null || typeof address === "string") reject(new Error("no TCP address"));
          else resolve(address.port);
        });
      }),
  ),
).then(
  (ports) => report({ kind: "listening", ports }),
  (err: Error) => report({ kind: "failed", message: err.message }),
);
