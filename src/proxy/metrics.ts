// The proxy's metrics under etcd's names (etcd_proxy_*), with the process metrics, served on /metrics
// of every proxy listener.
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/** Why a request was not answered by a member (etcd's forwardingError). */
export type ProxyingError = "zero_endpoints" | "failed_sending_request" | "failed_getting_response";

/** 0.5 ms doubling 13 times (up to about 2 s), as etcd buckets the proxy's handling time. */
const HANDLING_BUCKETS = Array.from({ length: 13 }, (_, i) => 0.0005 * 2 ** i);

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly incoming = new Counter({
    name: "etcd_proxy_requests_total",
    help: "Counter requests incoming by method.",
    labelNames: ["method"],
    registers: [this.registry],
  });
  private readonly handled = new Counter({
    name: "etcd_proxy_handled_total",
    help: "Counter of requests fully handled (by authoratitave servers)",
    labelNames: ["method", "code"],
    registers: [this.registry],
  });
  private readonly dropped = new Counter({
    name: "etcd_proxy_dropped_total",
    help: "Counter of requests dropped on the proxy.",
    labelNames: ["method", "proxying_error"],
    registers: [this.registry],
  });
  private readonly handlingSeconds = new Histogram({
    name: "etcd_proxy_handling_duration_seconds",
    help: "Bucketed histogram of handling time of successful events (non-watches), by method (GET/PUT etc.).",
    labelNames: ["method"],
    buckets: HANDLING_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  incomingRequest(method: string): void {
    this.incoming.inc({ method });
  }

  requestHandled(method: string, status: number, startedMs: number): void {
    this.handled.inc({ method, code: String(status) });
    this.handlingSeconds.observe({ method }, (performance.now() - startedMs) / 1000);
  }

  requestDropped(method: string, why: ProxyingError): void {
    this.dropped.inc({ method, proxying_error: why });
  }
}
