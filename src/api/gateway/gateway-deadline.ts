// A gateway call's Grpc-Timeout header, as etcd 3.4's grpc-gateway reads it (runtime.AnnotateContext): the
// call's deadline, after which the gateway's own client gives up with code 4 "context deadline exceeded"
// (HTTP 504), whatever the server still does with the call.

/** Milliseconds per unit of a grpc-timeout value. */
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * The header's timeout in milliseconds (negative: passed already); undefined without the header, and
 * for a timeout of 0 (grpc-gateway gives the call a deadline only for another value, so "0m" waits as
 * long as no header does); "invalid" for one grpc-gateway refuses (a unit it does not know, a number
 * strconv.ParseInt refuses).
 */
export function gatewayTimeoutMs(header: string | string[] | undefined): number | undefined | "invalid" {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === "") return undefined;
  if (value.length < 2) return "invalid";
  const unit = UNIT_MS[value[value.length - 1]];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^[+-]?[0-9]+$/.test(digits)) return "invalid";
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) return "invalid";
  if (n === 0) return undefined;
  return n * unit;
}

/** The status the gateway answers when a call's deadline passes first. */
export const GATEWAY_DEADLINE_STATUS = { code: 4, message: "context deadline exceeded" } as const;
