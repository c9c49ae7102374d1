// The two ends of an in-process byte stream for the forwarding connection. Node's duplexPair holds a
// writer once 16 KiB are unread, and Node's HTTP/2 stops reading a connection whose own writes are
// held: two HTTP/2 endpoints each writing more than that to the other both wait for ever (a flood of
// watch creates did). Here a write is taken at once, as a socket's kernel buffer takes it; what
// either side may have in flight stays bounded by HTTP/2's flow control windows.
import type { Duplex } from "node:stream";
import { type PeerAddress, SocketLikeDuplex } from "../socket-like-duplex.js";

class PairEnd extends SocketLikeDuplex {
  other: PairEnd | undefined = undefined;

  override _read(): void {
    // what the other end writes is pushed as it comes
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.other?.push(chunk);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.other?.push(null);
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    if (other !== undefined && !other.destroyed) other.destroy();
    done(err);
  }
}

/** Two connected ends: what one writes, the other reads; the second has the client's address. */
export function memoryPair(peer: PeerAddress = {}): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd(peer);
  a.other = b;
  b.other = a;
  return [a, b];
}
