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

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]) {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

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

export class GrpcMetrics {
  private readonly started;
  private readonly handledTotal;
  private readonly msgReceived;
  private readonly msgSent;

  constructor(registry: Registry) {
    this.started = counter(
      registry,
      "grpc_server_started_total",
      "Total number of RPCs started on the server.",
      methodLabels,
    );
    this.handledTotal = counter(
      registry,
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
      [...methodLabels, "grpc_code"] as const,
    );
    this.msgReceived = counter(
      registry,
      "grpc_server_msg_received_total",
      "Total number of RPC stream messages received on the server.",
      methodLabels,
    );
    this.msgSent = counter(
      registry,
      "grpc_server_msg_sent_total",
      "Total number of gRPC stream messages sent by the server.",
      methodLabels,
    );
  }

  private static labels(path: string, type: GrpcType): Labels {
    const [, service, method] = path.split("/");
    return { grpc_type: type, grpc_service: service, grpc_method: method };
  }

  /** Zero series for every method and code, as go-grpc-prometheus registers them. */
  preRegister(
    definitions: Iterable<
      Pick<MethodDefinition<unknown, unknown>, "path" | "requestStream" | "responseStream">
    >,
  ) {
    for (const d of definitions) {
      const labels = GrpcMetrics.labels(d.path, grpcTypeOf(d));
      this.started.inc(labels, 0);
      this.msgReceived.inc(labels, 0);
      this.msgSent.inc(labels, 0);
      for (const code of codeNames) this.handledTotal.inc({ ...labels, grpc_code: code }, 0);
    }
  }

  /** Counts the start of an RPC and returns its meter. */
  start(path: string, type: GrpcType): RpcMeter {
    const labels = GrpcMetrics.labels(path, type);
    this.started.inc(labels);
    let done = false;
    return {
      received: () => this.msgReceived.inc(labels),
      sent: () => this.msgSent.inc(labels),
      handled: (code) => {
        if (done) return;
        done = true;
        this.handledTotal.inc({ ...labels, grpc_code: codeNames[code] ?? "Unknown" });
      },
    };
  }
}
