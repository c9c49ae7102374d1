// Small HTTP/1.1 helpers for the peer port: Go-style error answers, body reading, keep-alive agents
// and a request function with a connect timeout, an optional answer timeout and cancellation.
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/** What a member needs to dial https peers (the peer client certificate and trusted CAs). */
export interface PeerTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  /**
   * The name peers' certificates are checked against (and sent as SNI) instead of each URL's host: etcd
   * sets it to the --discovery-srv domain when the SRV records give https peers and no trusted CA file.
   */
  serverName?: string;
}

/** An error answer as Go's http.Error writes it: plain text, the message and a newline. */
export function httpError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.writeHead(status);
  res.end(`${message}\n`);
}

/** A 405 with the allowed method, as etcd's handlers answer a wrong method. */
export function methodNotAllowed(res: ServerResponse, allow?: string): void {
  if (allow) res.setHeader("Allow", allow);
  httpError(res, 405, "Method Not Allowed");
}

/** Go's http.NotFound. */
export function notFound(res: ServerResponse): void {
  httpError(res, 404, "404 page not found");
}

/** A JSON error document as etcd's v2 HTTP errors write it: `{"message":"…"}`. */
export function jsonError(res: ServerResponse, status: number, message: string): void {
  res.setHeader("Content-Type", "application/json");
  res.writeHead(status);
  res.end(JSON.stringify({ message }));
}

/** The whole body of a request or answer. */
export async function readBody(stream: IncomingMessage, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** One keep-alive agent per scheme; https uses the member's peer TLS settings. */
export class Agents {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(
    /** The TLS settings https connections use (peer streams dial their own sockets with them). */
    readonly tls: PeerTls | undefined,
    keepAlive: boolean,
  ) {
    this.http = new HttpAgent({ keepAlive, scheduling: "fifo" });
    this.https = new HttpsAgent({
      keepAlive,
      scheduling: "fifo",
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.cert ? { cert: tls.cert } : {}),
      ...(tls?.key ? { key: tls.key } : {}),
      ...(tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
      ...(tls?.serverName ? { servername: tls.serverName } : {}),
    });
  }

  for(url: URL): HttpAgent {
    return url.protocol === "https:" ? this.https : this.http;
  }

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

export interface RequestOptions {
  method: "GET" | "POST";
  url: URL;
  headers?: Record<string, string>;
  /** A whole body (sent with Content-Length) or a stream of chunks (sent chunked). */
  body?: Buffer | AsyncIterable<Buffer>;
  agent: HttpAgent;
  /** The TCP (and TLS) connection must be up within this time. */
  connectTimeoutMs?: number;
  /** The answer's headers must arrive within this time of the request start. */
  answerTimeoutMs?: number;
  signal?: AbortSignal;
}

export class PeerRequestError extends Error {
  override name = "PeerRequestError";
}

/**
 * Starts a request and resolves with the answer once its headers arrived. The caller reads (or
 * destroys) the answer body. Streamed bodies honour back-pressure.
 */
export function startRequest(opts: RequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const make = opts.url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers: Record<string, string> = { ...opts.headers };
    if (Buffer.isBuffer(opts.body)) headers["Content-Length"] = String(opts.body.length);
    const req = make(opts.url, { method: opts.method, headers, agent: opts.agent });
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener("abort", onAbort);
      req.destroy(err);
      reject(err);
    };
    const onAbort = () => fail(new PeerRequestError("request canceled"));
    if (opts.signal) {
      if (opts.signal.aborted) {
        onAbort();
        return;
      }
      opts.signal.addEventListener("abort", onAbort, { once: true });
    }
    if (opts.connectTimeoutMs !== undefined) {
      const ms = opts.connectTimeoutMs;
      req.once("socket", (socket) => {
        if (!socket.connecting) return; // a kept-alive connection
        const t = setTimeout(() => fail(new PeerRequestError(`dial timeout after ${ms} ms`)), ms);
        timers.push(t);
        // with TLS the connection is up once the handshake is done
        const up = "encrypted" in socket && socket.encrypted ? "secureConnect" : "connect";
        socket.once(up, () => clearTimeout(t));
      });
    }
    if (opts.answerTimeoutMs !== undefined) {
      const ms = opts.answerTimeoutMs;
      timers.push(setTimeout(() => fail(new PeerRequestError(`no answer within ${ms} ms`)), ms));
    }
    // "on", not "once": a destroyed request can report a second error (socket hang up) later
    req.on("error", (err) => fail(err));
    req.once("response", (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      for (const t of timers) clearTimeout(t);
      // later aborts end the answer body instead, until the answer is done (the signal may be a peer's,
      // which outlives thousands of requests)
      const signal = opts.signal;
      if (signal) {
        signal.removeEventListener("abort", onAbort);
        const onBodyAbort = () => res.destroy(new PeerRequestError("request canceled"));
        signal.addEventListener("abort", onBodyAbort, { once: true });
        res.once("close", () => signal.removeEventListener("abort", onBodyAbort));
      }
      resolve(res);
    });
    if (opts.body === undefined) {
      req.end();
    } else if (Buffer.isBuffer(opts.body)) {
      req.end(opts.body);
    } else {
      void pipeBody(req, opts.body).catch((err: Error) => fail(err));
    }
  });
}

async function pipeBody(req: ClientRequest, body: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of body) {
    if (req.destroyed) return;
    if (!req.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          req.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          req.off("drain", onDrain);
          reject(new PeerRequestError("connection closed while sending"));
        };
        req.once("drain", onDrain);
        req.once("close", onClose);
      });
    }
  }
  req.end();
}

export interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A request whose whole answer is read, within `timeoutMs` overall when given. */
export async function fetchPeer(opts: RequestOptions & { timeoutMs?: number }): Promise<Answer> {
  const ctl = new AbortController();
  const onOuterAbort = () => ctl.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const timer =
    opts.timeoutMs !== undefined ? setTimeout(() => ctl.abort(), Math.max(0, opts.timeoutMs)) : undefined;
  try {
    const res = await startRequest({ ...opts, signal: ctl.signal });
    const body = await readBody(res);
    return { status: res.statusCode ?? 0, headers: res.headers, body };
  } catch (err) {
    if (ctl.signal.aborted && !opts.signal?.aborted)
      throw new PeerRequestError(`timed out after ${opts.timeoutMs} ms`);
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/** `base` (a peer URL) with `path` appended, as etcd concatenates them. */
export function peerUrl(base: string, path: string): URL {
  return new URL(base.replace(/\/+$/, "") + path);
}
