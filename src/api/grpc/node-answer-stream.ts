// Node's HTTP/2 server stream as an AnswerStream. The stream's events reach the call's listener
// through functions shared by every stream (the listener is found on the stream), not through a
// closure per stream and event.
import type { ServerHttp2Stream } from "node:http2";
import type { AnswerStream, AnswerStreamListener } from "./answer-stream.js";
import { answerHeaders, ignoreStreamError } from "./call-stream.js";
import { grpcMessageValue } from "./status-text.js";

// node's ServerStreamResponseOptions does not list sendDate, which respond() honours: etcd sends no date
const streamAnswerOptions = { waitForTrailers: true, sendDate: false };
const trailersOnlyOptions = { endStream: true, sendDate: false };

const listenerOf = Symbol("answer stream listener");
type ListenedStream = ServerHttp2Stream & { [listenerOf]?: AnswerStreamListener };

function onData(this: ListenedStream, chunk: Buffer): void {
  this[listenerOf]?.data(chunk);
}
function onEnd(this: ListenedStream): void {
  this[listenerOf]?.end();
}
function onClose(this: ListenedStream): void {
  this[listenerOf]?.closed();
}
function onDrain(this: ListenedStream): void {
  this[listenerOf]?.drained();
}

export class NodeAnswerStream implements AnswerStream {
  constructor(private readonly stream: ServerHttp2Stream) {}

  get connection(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return "unknown";
    return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
  }

  get closed(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  listen(listener: AnswerStreamListener): void {
    const stream = this.stream as ListenedStream;
    stream[listenerOf] = listener;
    // a reset stream also closes, which the listener hears
    stream.on("error", ignoreStreamError);
    stream.on("close", onClose);
    stream.on("data", onData);
    stream.on("end", onEnd);
    // Node emits 'drain' only after a write answered false
    stream.on("drain", onDrain);
  }

  respond(): void {
    this.stream.respond(answerHeaders, streamAnswerOptions);
  }

  write(frames: Buffer): boolean {
    return this.stream.write(frames);
  }

  pauseReading(): void {
    this.stream.pause();
  }

  resumeReading(): void {
    this.stream.resume();
  }

  finish(code: number, message: string): void {
    const { stream } = this;
    const statusFields = { "grpc-status": String(code), "grpc-message": grpcMessageValue(message) };
    if (stream.headersSent) {
      stream.once("wantTrailers", () => stream.sendTrailers(statusFields));
      stream.end();
    } else {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", ...statusFields },
        trailersOnlyOptions,
      );
    }
  }
}
