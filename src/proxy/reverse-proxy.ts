// etcd's httpproxy reverseProxy: the request body is read whole so the request can be sent again to
// the next endpoint when one fails; hop-by-hop headers are dropped both ways and the client's address
// is added to X-Forwarded-For. Answers of the proxy itself are etcd's JSON errors.
import type { Agent, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { goQuote } from "../membership/member-json.js";
import { readBody } from "../transport/http-util.js";
import { type Director, endpointText } from "./director.js";
import type { ProxyMetrics } from "./metrics.js";
import { roundTrip, type UpstreamTimeouts } from "./upstream.js";

/** Hop-by-hop headers (the list etcd borrowed from Go's httputil.ReverseProxy), lower-cased. */
const SINGLE_HOP_HEADERS = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade",
];

export interface ReverseProxyDeps {
  director: Director;
  /** The agent for an endpoint's scheme (keep-alive connections to the members). */
  agentFor: (endpoint: URL) => Agent;
  timeouts: UpstreamTimeouts;
  metrics: ProxyMetrics;
  log: Pick<Logger, "info" | "debug">;
}

/** Go's CanonicalMIMEHeaderKey: "content-type" is written "Content-Type". */
function canonicalName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** etcd's httptypes.HTTPError: `{"message":"…"}` as application/json. */
export function proxyError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `{"message":${goQuote(message)}}`;
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** Go's RemoteAddr: "ip:port", IPv6 in brackets. */
function remoteAddr(req: IncomingMessage): string {
  const ip = req.socket.remoteAddress ?? "";
  return `${ip.includes(":") ? `[${ip}]` : ip}:${req.socket.remotePort ?? 0}`;
}

/** The headers sent on: the client's, less hop-by-hop ones and the length (the buffered body sets it). */
function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values === undefined || SINGLE_HOP_HEADERS.includes(name) || name === "content-length") continue;
    headers[canonicalName(name)] = values.length === 1 ? values[0] : values;
  }
  const ip = req.socket.remoteAddress;
  if (ip !== undefined) {
    // a proxy behind another keeps the earlier addresses, folded into one header
    const prior = req.headersDistinct["x-forwarded-for"];
    headers["X-Forwarded-For"] = prior ? `${prior.join(", ")}, ${ip}` : ip;
  }
  return headers;
}

/** Whether the client sent a body (even an empty one), which is then sent on with its length. */
function hasBody(req: IncomingMessage, body: Buffer): boolean {
  return (
    body.length > 0 ||
    req.headers["content-length"] !== undefined ||
    req.headers["transfer-encoding"] !== undefined
  );
}

export function reverseProxy(deps: ReverseProxyDeps) {
  const { director, metrics, log } = deps;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    metrics.incomingRequest(method);
    const started = performance.now();

    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      const msg = `failed to read request body: ${(err as Error).message}`;
      log.info(msg);
      proxyError(res, 500, `httpproxy: ${msg}`);
      return;
    }
    const headers = forwardedHeaders(req);

    const endpoints = director.endpoints();
    if (endpoints.length === 0) {
      const msg = "zero endpoints currently available";
      metrics.requestDropped(method, "zero_endpoints");
      log.info(msg);
      proxyError(res, 503, `httpproxy: ${msg}`);
      return;
    }

    // the client going away cancels the request to the member
    const cancel = new AbortController();
    let clientClosed = false;
    const onClose = () => {
      if (res.writableFinished) return;
      clientClosed = true;
      log.info(`client ${remoteAddr(req)} closed request prematurely`);
      cancel.abort();
    };
    res.once("close", onClose);

    let answer: IncomingMessage | undefined;
    for (const ep of endpoints) {
      try {
        answer = await roundTrip(
          {
            endpoint: ep.url,
            method,
            path: req.url ?? "/",
            headers,
            body: hasBody(req, body) ? body : undefined,
            agent: deps.agentFor(ep.url),
            signal: cancel.signal,
          },
          deps.timeouts,
        );
      } catch (err) {
        if (clientClosed) return;
        metrics.requestDropped(method, "failed_sending_request");
        log.info(`failed to direct request to ${endpointText(ep.url)}: ${(err as Error).message}`);
        ep.failed();
        continue;
      }
      break;
    }
    if (clientClosed) {
      answer?.destroy();
      return;
    }
    if (!answer) {
      const msg = `unable to get response from ${endpoints.length} endpoint(s)`;
      metrics.requestDropped(method, "failed_getting_response");
      log.info(msg);
      proxyError(res, 502, `httpproxy: ${msg}`);
      return;
    }

    const status = answer.statusCode ?? 502;
    metrics.requestHandled(method, status, started);
    for (const [name, values] of Object.entries(answer.headersDistinct)) {
      if (values === undefined || SINGLE_HOP_HEADERS.includes(name)) continue;
      for (const v of values) res.appendHeader(canonicalName(name), v);
    }
    res.writeHead(status);
    // streamed (watches answer as they go); a member that breaks off mid-answer breaks off the client's
    answer.on("error", () => res.destroy());
    answer.on("aborted", () => res.destroy());
    answer.pipe(res);
  };
}
