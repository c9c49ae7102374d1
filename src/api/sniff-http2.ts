// How the client port sorts a plain connection: the HTTP/2 preface goes to gRPC, anything else to
// HTTP/1.1 (the main thread's listeners and the client port's HTTP/2 thread sort alike).
import type { Socket } from "node:net";

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Waits for enough bytes to tell the HTTP/2 preface from anything else, puts them back, and
 * reports the choice. Bytes that differ from the preface settle it at once (a short HTTP/1 request
 * never waits).
 */
export function sniffHttp2(socket: Socket, decide: (http2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, http2Preface.length);
    const matches = seen.subarray(0, n).equals(http2Preface.subarray(0, n));
    if (matches && seen.length < http2Preface.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    decide(matches);
  };
  socket.on("data", onData);
}
