// Hostile clients for the e2e fuzz tests: raw bytes on a port, bogus HTTP/2 frames, oversized
// headers, malformed and multi-megabyte JSON, raw protobuf on gRPC methods. Each function returns
// what the member answered, never throws on a refused or reset connection.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";

/** The resident set size of a process in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** A process's resident memory split as Linux counts it: anonymous (heaps, malloc) and file-backed (the binary's code, mapped files), in bytes. */
export function rssParts(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") };
}

/** A Node.js member's V8 heap (used, total) and external memory in bytes, from its /metrics; undefined for etcd. */
export async function nodeMemory(m: {
  http(path: string): Promise<{ status: number; text: string }>;
}): Promise<{ heapUsed: number; heapTotal: number; newSpace: number; external: number } | undefined> {
  const { status, text } = await m.http("/metrics");
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  const heapUsed = gauge("nodejs_heap_size_used_bytes");
  if (status !== 200 || Number.isNaN(heapUsed)) return undefined;
  return {
    heapUsed,
    heapTotal: gauge("nodejs_heap_size_total_bytes"),
    newSpace: gauge('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
    external: gauge("nodejs_external_memory_bytes"),
  };
}

/** Writes bytes to a TCP port and reads until the peer closes or `waitMs` passes; the bytes answered. */
export function rawExchange(port: number, data: Buffer, waitMs = 300): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const s = connect({ host: "127.0.0.1", port });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, waitMs);
    s.on("data", (d: Buffer) => (got += d.length));
    s.on("error", done);
    s.on("close", done);
    s.on("connect", () => s.write(data, () => s.end()));
  });
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** An HTTP/2 frame with the given type, flags, stream and payload (length may lie when `claimedLength` is given). */
export function http2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer,
  claimedLength?: number,
): Buffer {
  const h = Buffer.alloc(9);
  const len = claimedLength ?? payload.length;
  h.writeUIntBE(len & 0xffffff, 0, 3);
  h[3] = type & 0xff;
  h[4] = flags & 0xff;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** The HTTP/2 preface followed by the given frames. */
export function http2Connection(frames: Buffer[]): Buffer {
  return Buffer.concat([HTTP2_PREFACE, ...frames]);
}

/** One HTTP/1.1 request with arbitrary headers and body; the status, or 0 when the connection failed. */
export function httpRaw(
  port: number,
  path: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
    bodyWaitMs?: number;
  } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, method: opts.method ?? "POST", headers: opts.headers, agent: false },
      (res) => {
        let body = "";
        const finish = () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body });
          res.destroy();
        };
        // a stream answer (watch, keep-alive) never ends: what came within a moment is enough
        const timer = setTimeout(finish, opts.bodyWaitMs ?? 500);
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          if (body.length < 4096) body += d;
        });
        res.on("end", finish);
        res.on("error", finish);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end(opts.body);
  });
}

/** A raw gRPC client: any bytes to any method. */
export class RawGrpc {
  private readonly client: Client;

  constructor(endpoint: string) {
    this.client = new Client(endpoint, credentials.createInsecure(), {
      "grpc.max_send_message_length": 64 * 1024 * 1024,
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    });
  }

  /** Calls a unary method with raw request bytes; the status code and message (0 = OK). */
  unary(
    path: string,
    body: Buffer,
    metadata = new Metadata(),
    timeoutMs = 10_000,
  ): Promise<{ code: number; details: string }> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null) =>
          resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" }),
      );
    });
  }

  /** Opens a bidi stream, writes raw messages, collects answers for `waitMs`, then cancels. */
  bidi(
    path: string,
    messages: Buffer[],
    waitMs = 200,
  ): Promise<{ answers: number; code: number | undefined }> {
    return new Promise((resolve) => {
      const call = this.client.makeBidiStreamRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        new Metadata(),
        {},
      );
      let answers = 0;
      let code: number | undefined;
      call.on("data", () => answers++);
      call.on("error", (err: ServiceError) => (code = err.code));
      call.on("status", (s: { code: number }) => (code ??= s.code));
      for (const m of messages) call.write(m);
      setTimeout(() => {
        call.cancel();
        resolve({ answers, code });
      }, waitMs);
    });
  }

  close(): void {
    this.client.close();
  }
}
