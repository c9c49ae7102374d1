// The few calls of etcd's v2 keys API that discovery makes (get, create, watch), against the discovery
// service's one endpoint, with the errors etcd's v2 client gives them: an answer the service refused
// (its error JSON), a service that cannot be reached or answers 5xx (the "cluster unavailable" error
// discovery retries), an answer that is not etcd's JSON, a request past its time.
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { rootCertificates, connect as tlsConnect } from "node:tls";

/** A node of the v2 store as the keys API answers it. */
export interface V2Node {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: V2Node[];
  createdIndex: number;
  modifiedIndex: number;
}

export interface V2Response {
  action: string;
  node: V2Node;
  /** X-Etcd-Index: the store's index when it answered. */
  index: number;
}

/** The service refused the request: its error document (v2 client.Error). */
export class V2KeysError extends Error {
  constructor(
    readonly errorCode: number,
    readonly reason: string,
    readonly errorCause: string,
    readonly index: number,
  ) {
    super(`${errorCode}: ${reason} (${errorCause}) [${index}]`);
  }
}

/** etcd's v2 error codes that discovery tells apart. */
export const V2_KEY_NOT_FOUND = 100;
export const V2_NODE_EXIST = 105;

/** No endpoint answered (v2 client.ClusterError): what discovery retries with a backoff. */
export class ClusterUnavailableError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(
      `client: etcd cluster is unavailable or misconfigured${errors.map((e, i) => `; error #${i}: ${e}\n`).join("")}`,
    );
  }
  /** The errors one a line, as the v2 client's Detail() writes them. */
  detail(): string {
    return this.errors.map((e, i) => `error #${i}: ${e}\n`).join("");
  }
}

export class InvalidJsonError extends Error {
  constructor() {
    super("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint");
  }
}

/** A request that did not finish in its time (Go's context deadline). */
export class DeadlineExceededError extends Error {
  constructor() {
    super("context deadline exceeded");
  }
}

export interface V2KeysOptions {
  /** The service's endpoint: scheme://host:port of the discovery URL. */
  endpoint: URL;
  /** --discovery-proxy: an HTTP proxy all requests go through. */
  proxy?: URL;
  /** etcd's client.DefaultRequestTimeout for get and create: 5 s. */
  requestTimeoutMs?: number;
  /** etcd's discovery transport dials for at most 30 s. */
  dialTimeoutMs?: number;
  /** CA certificates trusted besides the system's (etcd trusts the system's only; for tests). */
  ca?: Buffer;
}

/** Go's wording of the common dial failures, as etcd's logs show them. */
function goNetError(err: NodeJS.ErrnoException, host: string): string {
  const syscallText: Record<string, string> = {
    ECONNREFUSED: "connect: connection refused",
    ECONNRESET: "read: connection reset by peer",
    EHOSTUNREACH: "connect: no route to host",
    ENETUNREACH: "connect: network is unreachable",
  };
  const text = err.code ? syscallText[err.code] : undefined;
  if (text) return `dial tcp ${host}: ${text}`;
  if (err.code === "ENOTFOUND") return `dial tcp: lookup ${host.replace(/:\d+$/, "")}: no such host`;
  return err.message;
}

export class V2KeysClient {
  private readonly endpoint: URL;
  private readonly proxy: URL | undefined;
  private readonly requestTimeoutMs: number;
  private readonly dialTimeoutMs: number;
  private readonly ca: Buffer | undefined;
  /** Open requests, aborted by close(). */
  private readonly open = new Set<AbortController>();

  constructor(opts: V2KeysOptions) {
    this.endpoint = opts.endpoint;
    this.proxy = opts.proxy;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 30_000;
    this.ca = opts.ca;
  }

  /** GET a key (a directory lists its children). */
  get(key: string): Promise<V2Response> {
    return this.keysCall(
      "GET",
      key,
      new URLSearchParams({ quorum: "false", recursive: "false", sorted: "false" }),
      undefined,
      this.requestTimeoutMs,
    );
  }

  /** PUT with prevExist=false: creates the key, or fails with 105 when it exists. */
  create(key: string, value: string): Promise<V2Response> {
    return this.keysCall(
      "PUT",
      key,
      new URLSearchParams({ prevExist: "false" }),
      new URLSearchParams({ value }).toString(),
      this.requestTimeoutMs,
    );
  }

  /**
   * Waits for the first change at or after waitIndex (under key when recursive), without a time limit
   * (etcd's discovery watches with context.Background). An answer without a body is asked again.
   */
  async watch(key: string, waitIndex: number, recursive: boolean): Promise<V2Response> {
    for (;;) {
      const params = new URLSearchParams({
        wait: "true",
        waitIndex: String(waitIndex),
        recursive: String(recursive),
      });
      const res = await this.keysCall("GET", key, params, undefined, 0, true);
      if (res) return res;
    }
  }

  /** Aborts every open request (a stopped bootstrap leaves no watch behind). */
  close(): void {
    for (const c of this.open) c.abort();
    this.open.clear();
  }

  private keysCall(
    method: string,
    key: string,
    params: URLSearchParams,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<V2Response>;
  private keysCall(
    method: string,
    key: string,
    params: URLSearchParams,
    body: string | undefined,
    timeoutMs: number,
    emptyIsUndefined: true,
  ): Promise<V2Response | undefined>;
  private async keysCall(
    method: string,
    key: string,
    params: URLSearchParams,
    body: string | undefined,
    timeoutMs: number,
    emptyIsUndefined = false,
  ): Promise<V2Response | undefined> {
    const target = new URL(this.endpoint.href);
    target.pathname = `/${key}`.replace(/\/+/g, "/");
    target.search = params.toString();
    const { status, headers, text } = await this.send(method, target, body, timeoutMs);
    if (status >= 500) {
      const where = this.endpoint.href.replace(/\/$/, "");
      const why =
        status === 500 || status === 503
          ? `client: etcd member ${where} has no leader`
          : `client: etcd member ${where} returns server error [${statusText(status)}]`;
      throw new ClusterUnavailableError([why]);
    }
    if (status === 200 || status === 201) {
      if (text.length === 0) {
        if (emptyIsUndefined) return undefined;
        throw new Error("client: response body is empty");
      }
      let doc: { action?: unknown; node?: unknown };
      try {
        doc = JSON.parse(text) as typeof doc;
      } catch {
        throw new InvalidJsonError();
      }
      const indexHeader = headers["x-etcd-index"];
      const index = typeof indexHeader === "string" ? Number(indexHeader) : 0;
      return { action: String(doc.action ?? ""), node: (doc.node ?? {}) as V2Node, index };
    }
    let err: { errorCode?: unknown; message?: unknown; cause?: unknown; index?: unknown };
    try {
      err = JSON.parse(text) as typeof err;
    } catch {
      throw new InvalidJsonError();
    }
    throw new V2KeysError(
      Number(err.errorCode ?? 0),
      String(err.message ?? ""),
      String(err.cause ?? ""),
      Number(err.index ?? 0),
    );
  }

  /** One HTTP exchange; network failures become ClusterUnavailableError, the time limit DeadlineExceededError. */
  private send(
    method: string,
    target: URL,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<{ status: number; headers: IncomingMessage["headers"]; text: string }> {
    const abort = new AbortController();
    this.open.add(abort);
    const hostPort = `${target.hostname.replace(/^\[|\]$/g, "")}:${target.port || (target.protocol === "https:" ? 443 : 80)}`;
    return new Promise<{ status: number; headers: IncomingMessage["headers"]; text: string }>(
      (resolve, reject) => {
        let timedOut = false;
        const timer =
          timeoutMs > 0
            ? setTimeout(() => {
                timedOut = true;
                abort.abort();
              }, timeoutMs)
            : undefined;
        const fail = (err: unknown) => {
          clearTimeout(timer);
          if (timedOut) return reject(new DeadlineExceededError());
          if (abort.signal.aborted) return reject(new Error("discovery stopped"));
          const e = err as NodeJS.ErrnoException;
          reject(new ClusterUnavailableError([goNetError(e, hostPort)]));
        };
        const headers: Record<string, string> = {};
        if (body !== undefined) {
          headers["content-type"] = "application/x-www-form-urlencoded";
          headers["content-length"] = String(Buffer.byteLength(body));
        }
        const onResponse = (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          });
          res.on("error", fail);
        };
        let req: ReturnType<typeof httpRequest>;
        // a connection of its own each time: discovery makes a handful of requests
        const base: RequestOptions = { method, headers, signal: abort.signal, agent: false };
        // a request that makes its own connection must have no agent at all, or the agent dials
        const { agent: _none, ...tunnelled } = base;
        const tls = this.ca ? { ca: [...rootCertificates, this.ca.toString()] } : {};
        if (this.proxy && target.protocol === "http:") {
          // an HTTP proxy is sent the whole URL
          req = httpRequest(
            {
              ...base,
              host: this.proxy.hostname,
              port: this.proxy.port || 80,
              path: target.href,
              headers: { ...headers, host: target.host },
            },
            onResponse,
          );
        } else if (this.proxy) {
          // https through the proxy: a CONNECT tunnel, TLS inside it
          const proxy = this.proxy;
          req = httpsRequest(
            target,
            {
              ...tunnelled,
              createConnection: (_opts, done) => {
                const tunnel = httpRequest({
                  host: proxy.hostname,
                  port: proxy.port || 80,
                  method: "CONNECT",
                  path: hostPort,
                  signal: abort.signal,
                });
                tunnel.on("connect", (res, socket) => {
                  if (res.statusCode !== 200) {
                    socket.destroy();
                    done(
                      new Error(`proxyconnect tcp: ${res.statusCode} ${res.statusMessage ?? ""}`.trim()),
                      socket,
                    );
                    return;
                  }
                  // the certificate is checked against the service's host, not the proxy's
                  const host = target.hostname.replace(/^\[|\]$/g, "");
                  const servername = isIP(host) === 0 ? { servername: host } : {};
                  done(null, tlsConnect({ socket, host, ...servername, ...tls }));
                });
                tunnel.on("error", (err) => done(err, undefined as never));
                tunnel.end();
                return undefined;
              },
            },
            onResponse,
          );
        } else {
          req =
            target.protocol === "https:"
              ? httpsRequest(target, { ...base, ...tls }, onResponse)
              : httpRequest(target, base, onResponse);
        }
        // the dial limit: a socket that connects in time is then given as long as the request needs
        req.on("socket", (s) => {
          if (!s.connecting) return;
          const dial = setTimeout(
            () =>
              req.destroy(
                Object.assign(new Error(`dial tcp ${hostPort}: i/o timeout`), { code: "ETIMEDOUT" }),
              ),
            this.dialTimeoutMs,
          );
          s.once("connect", () => clearTimeout(dial));
          s.once("close", () => clearTimeout(dial));
        });
        req.on("error", fail);
        req.end(body);
      },
    ).finally(() => this.open.delete(abort));
  }
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    501: "Not Implemented",
    502: "Bad Gateway",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
  };
  return texts[status] ?? String(status);
}
