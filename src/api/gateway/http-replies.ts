// The exact shapes of the HTTP answers etcd 3.4's gateway and Go's net/http give: plain-text errors,
// the gateway's JSON error body, and the gRPC-code -> HTTP-status mapping of the grpc-gateway v1
// build Debian's etcd 3.4.23 uses (FailedPrecondition -> 412, observed).
import type { ServerResponse } from "node:http";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RpcStatus } from "../grpc/status.js";

const httpStatusOfCode: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.Canceled]: 408,
  [GrpcCode.Unknown]: 500,
  [GrpcCode.InvalidArgument]: 400,
  [GrpcCode.DeadlineExceeded]: 504,
  [GrpcCode.NotFound]: 404,
  [GrpcCode.AlreadyExists]: 409,
  [GrpcCode.PermissionDenied]: 403,
  [GrpcCode.Unauthenticated]: 401,
  [GrpcCode.ResourceExhausted]: 429,
  [GrpcCode.FailedPrecondition]: 412,
  [GrpcCode.Aborted]: 409,
  [GrpcCode.OutOfRange]: 400,
  [GrpcCode.Unimplemented]: 501,
  [GrpcCode.Internal]: 500,
  [GrpcCode.Unavailable]: 503,
  [GrpcCode.DataLoss]: 500,
};

export function httpStatusOf(code: number): number {
  return httpStatusOfCode[code] ?? 500;
}

const httpStatusText: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  412: "Precondition Failed",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Go's encoding/json escapes these even inside strings; they can only occur inside strings. */
export function goJsonEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The gateway's error body: {"error","message","code"}. */
export function errorBody(status: RpcStatus): string {
  return goJsonEscape(JSON.stringify({ error: status.message, message: status.message, code: status.code }));
}

/** The error line that ends a gateway stream: {"error":{"grpc_code",...}}. */
export function streamErrorLine(status: RpcStatus): string {
  const http = httpStatusOf(status.code);
  return goJsonEscape(
    JSON.stringify({
      error: {
        grpc_code: status.code,
        http_code: http,
        message: status.message,
        http_status: httpStatusText[http] ?? "",
      },
    }),
  );
}

/** Go's http.Error: text/plain, nosniff, the text plus a newline. */
export function plainError(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** A request that never reached the RPC (bad JSON, ...): the body with a Content-Length. */
export function replyDecodeError(res: ServerResponse, status: RpcStatus): void {
  const body = errorBody(status);
  res.writeHead(httpStatusOf(status.code), {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** An RPC that failed: the gateway relays the gRPC trailer, so the body is chunked with a trailer. */
export function replyRpcError(res: ServerResponse, status: RpcStatus): void {
  res.writeHead(httpStatusOf(status.code), {
    "Content-Type": "application/json",
    Trailer: "Grpc-Trailer-Content-Type",
  });
  res.write(errorBody(status));
  res.addTrailers({ "Grpc-Trailer-Content-Type": "application/grpc" });
  res.end();
}

/** A successful unary answer. */
export function replyJson(res: ServerResponse, json: string): void {
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Grpc-Metadata-Content-Type": "application/grpc",
    "Content-Length": Buffer.byteLength(json),
  });
  res.end(json);
}
