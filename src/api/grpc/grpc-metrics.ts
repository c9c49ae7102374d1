// The gRPC server metrics etcd 3.4 exports (go-grpc-prometheus): started, handled (by code), and
// stream messages received/sent, labelled by type, service and method. Gateway calls count too,
// since etcd's gateway reaches its RPCs through the gRPC server.
import { Counter, type Registry } from "prom-client";
import type { MethodDefinition } from "../client-handlers.js";

export type GrpcType = "unary" | "client_stream" | "server_stream" | "bidi_stream";

const codeNames = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

const methodLabels = ["grpc_type", "grpc_service", "grpc_method"] as const;
type MethodLabel = (typeof methodLabels)[number];
type Labels = Record<MethodLabel, string>;

export function grpcTypeOf(d: { requestStream: boolean; responseStream: boolean }): GrpcType {
  if (d.requestStream) return d.responseStream ? "bidi_stream" : "client_stream";
  return d.responseStream ? "server_stream" : "unary";
}

/** One RPC's accounting: call the methods as it goes; `handled` counts once. */
export interface RpcMeter {
  received(): void;
  sent(): void;
  handled(code: number): void;
}

/** Plain counts for one method; prom-client sees them only when scraped. */
class MethodCounts {
  started = 0;
  received = 0;
  sent = 0;
  readonly handled: number[] = codeNames.map(() => 0);
  constructor(readonly labels: Labels) {}
}

class Meter implements RpcMeter {
  private done = false;
  constructor(private readonly counts: MethodCounts) {
    counts.started++;
  }
  received(): void {
    this.counts.received++;
  }
  sent(): void {
    this.counts.sent++;
  }
  handled(code: number): void {
    if (this.done) return;
    this.done = true;
    this.counts.handled[code >= 0 && code < codeNames.length ? code : 2]++;
  }
}

/** Every method's counts of one registry (several client listeners may share one). */
const tables = new WeakMap<Registry, Map<string, MethodCounts>>();

/**
 * Counting an RPC is a few integer increments on the request path; the prom-client counters are
 * filled from those counts when the registry is read (label hashing per request measured a few
 * per cent of a serializable range's CPU).
 */
export class GrpcMetrics {
  private readonly methods: Map<string, MethodCounts>;

  constructor(registry: Registry) {
    let methods = tables.get(registry);
    if (methods === undefined) {
      const table = new Map<string, MethodCounts>();
      methods = table;
      tables.set(registry, table);
      const each = (fill: (c: Counter<string>, m: MethodCounts) => void) =>
        function (this: Counter<string>) {
          this.reset();
          for (const m of table.values()) fill(this, m);
        };
      const counter = (name: string, help: string, labelNames: readonly string[], collect: () => void) =>
        new Counter({ name, help, labelNames, registers: [registry], collect });
      counter(
        "grpc_server_started_total",
        "Total number of RPCs started on the server.",
        methodLabels,
        each((c, m) => c.inc(m.labels, m.started)),
      );
      counter(
        "grpc_server_handled_total",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        [...methodLabels, "grpc_code"],
        each((c, m) => {
          for (let i = 0; i < codeNames.length; i++)
            c.inc({ ...m.labels, grpc_code: codeNames[i] }, m.handled[i]);
        }),
      );
      counter(
        "grpc_server_msg_received_total",
        "Total number of RPC stream messages received on the server.",
        methodLabels,
        each((c, m) => c.inc(m.labels, m.received)),
      );
      counter(
        "grpc_server_msg_sent_total",
        "Total number of gRPC stream messages sent by the server.",
        methodLabels,
        each((c, m) => c.inc(m.labels, m.sent)),
      );
    }
    this.methods = methods;
  }

  private counts(path: string, type: GrpcType): MethodCounts {
    const key = `${type} ${path}`;
    let counts = this.methods.get(key);
    if (counts === undefined) {
      const [, service, method] = path.split("/");
      counts = new MethodCounts({ grpc_type: type, grpc_service: service, grpc_method: method });
      this.methods.set(key, counts);
    }
    return counts;
  }

  /** Zero series for every method and code, as go-grpc-prometheus registers them. */
  preRegister(
    definitions: Iterable<
      Pick<MethodDefinition<unknown, unknown>, "path" | "requestStream" | "responseStream">
    >,
  ) {
    for (const d of definitions) this.counts(d.path, grpcTypeOf(d));
  }

  /**
   * The meter factory of one method: looked up on its first RPC (a method never called shows no
   * series unless pre-registered, as in etcd), then without a map lookup.
   */
  method(path: string, type: GrpcType): () => RpcMeter {
    let counts: MethodCounts | undefined;
    return () => new Meter((counts ??= this.counts(path, type)));
  }

  /** Counts the start of an RPC and returns its meter. */
  start(path: string, type: GrpcType): RpcMeter {
    return new Meter(this.counts(path, type));
  }
}
