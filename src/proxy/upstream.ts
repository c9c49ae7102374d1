// One request of the proxy to one member's client URL, with etcd's timeout transport: the connection
// must be up within the dial timeout, the request written within the write timeout, and (when a read
// timeout is set) the connection may not stay silent longer than it, answer body included.
import {
  type Agent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from "node:http";
import { request as httpsRequest } from "node:https";

export interface UpstreamTimeouts {
  dialMs: number;
  /** 0: none. */
  writeMs: number;
  /** 0: none (long-lived answers such as watches stay open). */
  readMs: number;
}

export interface UpstreamRequest {
  /** The member's client URL; only its scheme and host are used. */
  endpoint: URL;
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: OutgoingHttpHeaders;
  /** The whole body, sent with its length; undefined sends none. */
  body: Buffer | undefined;
  agent: Agent;
  signal: AbortSignal;
}

export class UpstreamError extends Error {
  override name = "UpstreamError";
}

/** Resolves with the member's answer once its headers are in; the caller reads or destroys the body. */
export function roundTrip(r: UpstreamRequest, timeouts: UpstreamTimeouts): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = r.endpoint.protocol === "https:";
    const make = https ? httpsRequest : httpRequest;
    const headers = { ...r.headers };
    if (r.body !== undefined) headers["content-length"] = String(r.body.length);
    const req = make({
      protocol: r.endpoint.protocol,
      hostname: r.endpoint.hostname.replace(/^\[|\]$/g, ""),
      port: r.endpoint.port || (https ? 443 : 80),
      method: r.method,
      path: r.path,
      headers,
      agent: r.agent,
    });
    let settled = false;
    let dialTimer: NodeJS.Timeout | undefined;
    let writeTimer: NodeJS.Timeout | undefined;
    const clear = () => {
      clearTimeout(dialTimer);
      clearTimeout(writeTimer);
      r.signal.removeEventListener("abort", onAbort);
    };
    const fail = (err: Error) => {
      req.destroy(err);
      if (settled) return;
      settled = true;
      clear();
      reject(err);
    };
    const onAbort = () => fail(new UpstreamError("context canceled"));
    if (r.signal.aborted) {
      onAbort();
      return;
    }
    r.signal.addEventListener("abort", onAbort, { once: true });
    req.once("socket", (socket) => {
      const startWriteTimer = () => {
        if (timeouts.writeMs <= 0 || req.writableFinished) return;
        writeTimer = setTimeout(() => fail(new UpstreamError("write: i/o timeout")), timeouts.writeMs);
      };
      // a kept-alive connection is up already
      if (!socket.connecting) return startWriteTimer();
      if (timeouts.dialMs > 0)
        dialTimer = setTimeout(() => fail(new UpstreamError("dial tcp: i/o timeout")), timeouts.dialMs);
      socket.once("connect", () => {
        clearTimeout(dialTimer);
        startWriteTimer();
      });
    });
    req.once("finish", () => {
      // written: only the read timeout stays
      clearTimeout(writeTimer);
    });
    if (timeouts.readMs > 0) {
      req.setTimeout(timeouts.readMs, () => req.destroy(new UpstreamError("read: i/o timeout")));
    }
    // "on": a destroyed request may report a second error later
    req.on("error", (err) => fail(err));
    req.once("response", (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      clear();
      // a cancel after the answer arrived ends its body
      const onBodyAbort = () => req.destroy(new UpstreamError("context canceled"));
      r.signal.addEventListener("abort", onBodyAbort, { once: true });
      res.once("close", () => r.signal.removeEventListener("abort", onBodyAbort));
      resolve(res);
    });
    req.end(r.body);
  });
}
