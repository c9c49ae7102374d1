// Dials a peer stream (GET /raft/stream/<type>/<id>) on a plain TCP or TLS socket and reads the
// answer with HttpAnswerParser: the body's bytes go from the socket's data events straight to the
// frame decoders, without Node's HTTP client (parser callbacks, IncomingMessage, Readable) between.
// The request is what Node's client sends through a non-keep-alive agent: our headers, Host and
// Connection: close; TLS verification uses the member's peer TLS settings as https.request does.
import type { IncomingHttpHeaders } from "node:http";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type AnswerHead, HttpAnswerParser } from "./http-answer-parser.js";
import { PeerRequestError, type PeerTls } from "./http-util.js";

export interface StreamDialOptions {
  url: URL;
  headers: Record<string, string>;
  /** Certificates and CAs for https peers. */
  tls?: PeerTls;
  /** The TCP (and TLS) connection must be up within this time. */
  connectTimeoutMs: number;
  /** The answer's headers must arrive within this time of the dial's start. */
  answerTimeoutMs: number;
  signal: AbortSignal;
}

/** The request bytes: the same request line and headers Node's client writes for this GET. */
export function streamRequest(url: URL, headers: Record<string, string>): Buffer {
  let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new PeerRequestError(`invalid header ${name}`);
    text += `${name}: ${value}\r\n`;
  }
  text += `Host: ${url.host}\r\nConnection: close\r\n\r\n`;
  return Buffer.from(text, "latin1");
}

/** An answered stream dial: its head, and its body once a reader attaches. */
export class StreamAnswer {
  private sink: ((piece: Buffer) => void) | undefined;
  private early: Buffer[] = [];
  private ended: ((err: Error | undefined) => void) | undefined;
  private endedWith: { err: Error | undefined } | undefined;

  constructor(
    readonly head: AnswerHead,
    private readonly socket: Socket,
  ) {}

  get status(): number {
    return this.head.status;
  }

  get headers(): IncomingHttpHeaders {
    return this.head.headers;
  }

  /**
   * Starts reading the body: `piece` gets its bytes in order (first those that came with the head),
   * `end` is called once, with undefined when the body ended properly and the error otherwise.
   */
  read(piece: (piece: Buffer) => void, end: (err: Error | undefined) => void): void {
    this.sink = piece;
    this.ended = end;
    const early = this.early;
    this.early = [];
    for (const b of early) piece(b);
    if (this.endedWith) end(this.endedWith.err);
  }

  /** The whole body (for an error answer); an empty buffer when it cannot be read. */
  body(limit = 1024 * 1024): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      this.read(
        (b) => {
          size += b.length;
          if (size > limit) this.destroy();
          else chunks.push(b);
        },
        (err) => resolve(err ? Buffer.alloc(0) : Buffer.concat(chunks)),
      );
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal a body piece from the socket */
  onPiece(piece: Buffer): void {
    if (this.sink) this.sink(piece);
    else this.early.push(piece);
  }

  /** @internal the body ended or the connection failed */
  onEnd(err: Error | undefined): void {
    if (this.endedWith) return;
    this.endedWith = { err };
    this.socket.destroy();
    this.ended?.(err);
  }
}

/** Dials and resolves once the answer's headers arrived; the caller reads or destroys the answer. */
export function dialStream(opts: StreamDialOptions): Promise<StreamAnswer> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) {
      reject(new PeerRequestError("request canceled"));
      return;
    }
    const { url } = opts;
    const secure = url.protocol === "https:";
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || (secure ? 443 : 80));
    let request: Buffer;
    try {
      request = streamRequest(url, opts.headers);
    } catch (err) {
      reject(err);
      return;
    }
    const tls = opts.tls;
    const socket: Socket = secure
      ? tlsConnect({
          host,
          port,
          // SNI carries names only, as https.request sends it; a configured server name replaces the host
          ...(tls?.serverName ? { servername: tls.serverName } : isIP(host) ? {} : { servername: host }),
          ...(tls?.ca ? { ca: tls.ca } : {}),
          ...(tls?.cert ? { cert: tls.cert } : {}),
          ...(tls?.key ? { key: tls.key } : {}),
          ...(tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
        })
      : netConnect({ host, port });
    socket.setNoDelay(true);

    let answer: StreamAnswer | undefined;
    let settled = false;
    // body bytes in the chunk that ends the head arrive before the answer exists
    const beforeAnswer: Buffer[] = [];
    const parser = new HttpAnswerParser((piece) => {
      if (answer) answer.onPiece(piece);
      else beforeAnswer.push(piece);
    });

    const connectTimer = setTimeout(
      () => fail(new PeerRequestError(`dial timeout after ${opts.connectTimeoutMs} ms`)),
      opts.connectTimeoutMs,
    );
    const answerTimer = setTimeout(
      () => fail(new PeerRequestError(`no answer within ${opts.answerTimeoutMs} ms`)),
      opts.answerTimeoutMs,
    );
    const onAbort = () => {
      if (answer) answer.onEnd(new PeerRequestError("request canceled"));
      else fail(new PeerRequestError("request canceled"));
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });

    function settle(): void {
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(answerTimer);
    }
    function fail(err: Error): void {
      if (settled) return;
      settle();
      opts.signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    }
    function ended(err: Error | undefined): void {
      if (!answer) fail(err ?? new PeerRequestError("connection closed before the answer's headers"));
      else {
        opts.signal.removeEventListener("abort", onAbort);
        answer.onEnd(err);
      }
    }

    socket.once(secure ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
    socket.on("data", (chunk: Buffer) => {
      try {
        parser.push(chunk);
        if (!answer && parser.head) {
          answer = new StreamAnswer(parser.head, socket);
          for (const piece of beforeAnswer.splice(0)) answer.onPiece(piece);
          settle();
          resolve(answer);
        }
        if (parser.complete) ended(undefined);
      } catch (err) {
        ended(err as Error);
      }
    });
    socket.once("end", () => {
      try {
        parser.eof();
        ended(undefined);
      } catch (err) {
        ended(err as Error);
      }
    });
    // "on": a destroyed socket may still report a late error
    socket.on("error", (err) => ended(err));
    socket.once("close", () => ended(new PeerRequestError("connection closed")));
    socket.write(request);
  });
}
