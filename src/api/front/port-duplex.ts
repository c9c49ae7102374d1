// A connection between the client port's HTTP/2 thread and the main thread: a byte stream over a
// MessagePort, which each side's HTTP server takes as it takes a socket. A client connection the main
// thread serves (HTTP/1.1, or the gRPC streams the thread forwards) crosses this way, in-process: no
// port of its own that anything else could reach.
//
// A MessagePort has no flow control, so each side tells the other how much it has read: a writer
// holds its writes once WINDOW bytes are unread, as a socket's full send buffer would.

import type { MessagePort } from "node:worker_threads";
import { type PeerAddress, SocketLikeDuplex } from "../socket-like-duplex.js";

export type { PeerAddress } from "../socket-like-duplex.js";

/** Bytes a side may send before the reader says it has read them. */
const WINDOW = 1 << 20;
/** Bytes read before the reader says so (a quarter of the window keeps the writer going). */
const ACK_EVERY = WINDOW / 4;

/** The other side ended its writes (the socket's FIN). */
const END = "end";
/**
 * The other side was destroyed. Sent as a message rather than by closing the port at once: a port closed
 * by its sender may drop messages still on the way (a gateway's last line, written just before its
 * connection was closed), while this one arrives after them and the receiver closes the port.
 */
const CLOSED = "closed";

export class PortDuplex extends SocketLikeDuplex {
  /** Sent bytes the other side has not said it read. */
  private unread = 0;
  /** A write waiting for the other side to read. */
  private held: (() => void) | undefined;
  /** Bytes pushed and taken by our reader, not yet told. */
  private readBytes = 0;
  /** Bytes pushed while our reader wanted no more. */
  private backlog = 0;
  /** The other side said it was destroyed: closing the port is ours to do. */
  private peerGone = false;
  /** Resolves once the port is closed: the other side has read everything this side sent. */
  readonly released: Promise<void>;

  constructor(
    private readonly port: MessagePort,
    peer: PeerAddress = {},
  ) {
    super(peer);
    port.on("message", (message: unknown) => this.receive(message));
    this.released = new Promise((resolve) =>
      port.on("close", () => {
        this.destroy();
        resolve();
      }),
    );
  }

  private receive(message: unknown): void {
    if (message instanceof ArrayBuffer) {
      const chunk = Buffer.from(message);
      if (this.push(chunk)) this.tell(chunk.length);
      else this.backlog += chunk.length;
    } else if (typeof message === "number") {
      this.unread -= message;
      if (this.unread < WINDOW && this.held !== undefined) {
        const release = this.held;
        this.held = undefined;
        release();
      }
    } else if (message === END) this.push(null);
    else if (message === CLOSED) this.closedByPeer();
  }

  /** As a socket whose peer went away: what was received is still read, then the connection closes. */
  private closedByPeer(): void {
    this.peerGone = true;
    if (this.readableEnded) {
      this.destroy();
      return;
    }
    this.once("end", () => this.destroy());
    this.push(null);
  }

  private tell(n: number): void {
    this.readBytes += n;
    if (this.readBytes >= ACK_EVERY) {
      this.port.postMessage(this.readBytes);
      this.readBytes = 0;
    }
  }

  override _read(): void {
    if (this.backlog > 0) {
      const n = this.backlog;
      this.backlog = 0;
      this.tell(n);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    // a copy of its own, transferred: a socket's chunk may be a view of a larger pooled buffer
    const copy = new ArrayBuffer(chunk.length);
    new Uint8Array(copy).set(chunk);
    this.port.postMessage(copy, [copy]);
    this.unread += chunk.length;
    if (this.unread >= WINDOW) this.held = () => done();
    else done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.port.postMessage(END);
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.held = undefined;
    if (this.peerGone) this.port.close();
    else {
      // the other side closes the port once it has read what came before; this side no longer holds
      // the process open for it
      this.port.postMessage(CLOSED);
      this.port.unref();
    }
    done(err);
  }
}
