// Shared pieces of the client-port tests: a listener over the in-memory ClientApi double, plain
// HTTP/1.1 requests (curl-like, with trailers and chunk boundaries), and raw gRPC clients.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import {
  type ClientListeners,
  clientHttp2FromEnvironment,
  type ServeClientsOptions,
  serveClients,
} from "../../src/api/index.js";
import { KVClient } from "../../src/gen/etcdserverpb/rpc.js";
import { MemoryClientApi } from "./memory-client-api.js";

export interface Harness {
  api: MemoryClientApi;
  listeners: ClientListeners;
  /** "127.0.0.1:PORT" of the first listen URL. */
  hostPort: string;
  url: URL;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<ServeClientsOptions> = {}): Promise<Harness> {
  const api = new MemoryClientApi();
  const listeners = await serveClients({
    api,
    listenUrls: [new URL("http://127.0.0.1:0")],
    // the suites run against either HTTP/2 of the port (RXETCD_CLIENT_HTTP2)
    clientHttp2: clientHttp2FromEnvironment(process.env),
    ...options,
  });
  const url = listeners.urls[0];
  return { api, listeners, url, hostPort: `${url.hostname}:${url.port}`, close: () => listeners.close() };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | undefined>;
  body: string;
  /** The body as the chunks the client received them (for streaming checks). */
  chunks: string[];
}

export interface HttpCall {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  ca?: string | Buffer;
  /** Resolve once this many body chunks arrived, then drop the connection (for endless streams). */
  stopAfterChunks?: number;
  /** Called with each body chunk as it arrives. */
  onChunk?: (chunk: string) => void;
}

/** One HTTP/1.1 request, like curl. */
export function http(base: URL, path: string, call: HttpCall = {}): Promise<HttpAnswer> {
  const target = new URL(path, base);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: call.method ?? (call.body === undefined ? "GET" : "POST"),
        headers: { "content-type": "application/json", ...call.headers },
        ca: call.ca,
        agent: false,
      },
      (res) => {
        const chunks: string[] = [];
        const done = () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: chunks.join(""),
            chunks,
          });
        res.on("data", (c: Buffer) => {
          chunks.push(c.toString("utf8"));
          call.onChunk?.(c.toString("utf8"));
          if (call.stopAfterChunks !== undefined && chunks.length >= call.stopAfterChunks) {
            done();
            res.destroy();
          }
        });
        res.on("end", done);
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(call.body);
  });
}

/** A raw generated KV client (errors keep their gRPC code and details). */
export function kvClient(hostPort: string): InstanceType<typeof KVClient> {
  return new KVClient(hostPort, credentials.createInsecure());
}

/** Promise form of a unary call on a generated client. */
export function unary<Req, Res>(
  fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
