// The gRPC side of the client port: etcd's services on a grpc-js Server that owns no listener
// (connections are injected by the port splitter).
import { once } from "node:events";
import {
  type Metadata,
  Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { take } from "rxjs";
import {
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  LeaseService,
  MaintenanceService,
  type SnapshotRequest,
  type SnapshotResponse,
  type WatchRequest,
  type WatchResponse,
  WatchService,
} from "../../gen/etcdserverpb/rpc.js";
import {
  ElectionService,
  type LeaderRequest,
  type LeaderResponse,
} from "../../gen/v3electionpb/v3election.js";
import { Errors, GrpcCode } from "../../rpctypes/errors.js";
import type { ClientApi, RequestContext } from "../../server/client-api.js";
import {
  type ClientLimits,
  checkRequireLeader,
  keepAliveResponse,
  leaderObserver,
  type MethodDefinition,
  snapshotMessages,
  type UnaryHandler,
  unimplemented,
} from "../client-handlers.js";
import { type ConnectionBudgets, TOO_MANY } from "../connection-limits.js";
import { grpcRequestContext, type TlsIdentities } from "../request-context.js";
import type { GrpcLimits } from "../serve.js";
import { type GrpcMetrics, grpcTypeOf, type RpcMeter } from "./grpc-metrics.js";
import { HealthService, healthImplementation } from "./health-service.js";
import { etcdServices } from "./served-services.js";
import { toServiceError } from "./status.js";

/** etcd's allowance on top of --max-request-bytes for the gRPC receive limit (grpcOverheadBytes). */
export const grpcOverheadBytes = 512 * 1024;

type AnyDefinition = MethodDefinition<unknown, unknown>;

/** grpc-go's server keepalive defaults, which etcd keeps unless both its flags are above zero. */
const DEFAULT_PING_INTERVAL_MS = 2 * 60 * 60 * 1000;
const DEFAULT_PING_TIMEOUT_MS = 20_000;

/** How often the member pings an idle client connection, and how long it waits for the answer. */
export function serverPings(t: GrpcLimits): {
  "grpc.keepalive_time_ms": number;
  "grpc.keepalive_timeout_ms": number;
} {
  const given = (t.keepaliveIntervalMs ?? 0) > 0 && (t.keepaliveTimeoutMs ?? 0) > 0;
  return {
    "grpc.keepalive_time_ms": given ? (t.keepaliveIntervalMs as number) : DEFAULT_PING_INTERVAL_MS,
    "grpc.keepalive_timeout_ms": given ? (t.keepaliveTimeoutMs as number) : DEFAULT_PING_TIMEOUT_MS,
  };
}

/** A grpc-js server with every client service registered; it never binds a port itself. */
export function createGrpcServer(
  api: ClientApi,
  handlers: Map<string, UnaryHandler>,
  limits: ClientLimits,
  metrics: GrpcMetrics,
  identities?: TlsIdentities,
  transport: GrpcLimits = {},
  budgets?: ConnectionBudgets,
): Server {
  // the caller's credentials: a token from the metadata, else a verified client certificate's name
  const credentials = (call: { metadata: import("@grpc/grpc-js").Metadata; getPeer(): string }) =>
    grpcRequestContext(call.metadata, identities?.commonNameOf(call));
  const server = new Server({
    "grpc.max_receive_message_length": limits.maxRequestBytes + grpcOverheadBytes,
    "grpc.max_send_message_length": 2 ** 31 - 1,
    // etcd's defaults are unlimited streams and a 2 h ping; only values given are set
    ...(transport.maxConcurrentStreams
      ? { "grpc.max_concurrent_streams": transport.maxConcurrentStreams }
      : {}),
    ...serverPings(transport),
  });
  const streams: Record<string, UntypedServiceImplementation[string]> = {
    [WatchService.watch.path]: checked(
      api,
      WatchService.watch.path,
      "bidi_stream",
      metrics,
      (call: ServerDuplexStream<WatchRequest, WatchResponse>) =>
        serveWatch(
          api,
          call,
          metrics.start(WatchService.watch.path, "bidi_stream"),
          credentials(call),
          budgets,
        ),
    ),
    [LeaseService.leaseKeepAlive.path]: checked(
      api,
      LeaseService.leaseKeepAlive.path,
      "bidi_stream",
      metrics,
      (call: ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>) =>
        serveKeepAlive(
          api,
          call,
          metrics.start(LeaseService.leaseKeepAlive.path, "bidi_stream"),
          credentials(call),
          budgets,
        ),
    ),
    [MaintenanceService.snapshot.path]: checked(
      api,
      MaintenanceService.snapshot.path,
      "server_stream",
      metrics,
      (call: ServerWritableStream<SnapshotRequest, SnapshotResponse>) =>
        void serveSnapshot(
          api,
          call,
          metrics.start(MaintenanceService.snapshot.path, "server_stream"),
          credentials(call),
        ),
    ),
  };
  const observe = leaderObserver(api, handlers);
  // Observe passes the same stream checks as every other stream (etcd registers Election on the
  // server that carries its interceptors): no stream on a learner, `hasleader` needs a leader
  streams[ElectionService.observe.path] = checked(
    api,
    ElectionService.observe.path,
    "server_stream",
    metrics,
    (call: ServerWritableStream<LeaderRequest, LeaderResponse>) =>
      void serveObserve(
        observe,
        call,
        metrics.start(ElectionService.observe.path, "server_stream"),
        credentials(call),
      ),
  );
  for (const service of etcdServices) {
    const impl: UntypedServiceImplementation = {};
    for (const [name, definition] of Object.entries(service)) {
      const unary = handlers.get(definition.path);
      const stream = streams[definition.path];
      if (unary) impl[name] = unaryCall(api, unary, metrics, credentials);
      else if (stream) impl[name] = stream;
      else impl[name] = notServed(definition, metrics);
    }
    server.addService(service as unknown as ServiceDefinition, impl);
  }
  server.addService(HealthService as unknown as ServiceDefinition, healthImplementation());
  // Lock and Election are left out, as in etcd (registered after the metrics were).
  metrics.preRegister([...etcdServices.slice(0, 6), HealthService].flatMap((svc) => Object.values(svc)));
  return server;
}

/** clientv3 marks requests that must reach a member with a leader (WithRequireLeader). */
function requiresLeader(md: Metadata): boolean {
  return md.get("hasleader").some((v) => String(v) === "true");
}

/** etcd's stream interceptor: learners serve no stream; `hasleader` streams need a leader to start. */
function checkStream(api: ClientApi, requireLeader: boolean): void {
  if (api.isLearner()) throw Errors.NotSupportedForLearner;
  checkRequireLeader(api, requireLeader);
}

/** What the stream checks need of a grpc-js server call. */
interface StreamCall {
  metadata: Metadata;
  emit(event: "error", err: unknown): boolean;
  once(event: "close" | "finish" | "error", listener: () => void): unknown;
}

/**
 * A stream handler that first passes etcd's stream checks; a refused stream ends with the error. A
 * stream opened with `hasleader` is watched as etcd's monitorLeader watches it: once the member has
 * been without a leader for a while, it ends with "etcdserver: no leader" (clients move elsewhere).
 */
function checked<C extends StreamCall>(
  api: ClientApi,
  path: string,
  type: "bidi_stream" | "server_stream",
  metrics: GrpcMetrics,
  serve: (call: C) => void,
) {
  return ((call: C) => {
    const requireLeader = requiresLeader(call.metadata);
    try {
      checkStream(api, requireLeader);
    } catch (err) {
      const error = toServiceError(err);
      metrics.start(path, type).handled(error.code);
      call.emit("error", error);
      return;
    }
    serve(call);
    if (requireLeader) cancelOnLeaderLoss(api, call);
  }) as unknown as UntypedServiceImplementation[string];
}

/** Ends a `hasleader` stream with etcd's no-leader error when the member loses its leader for long. */
function cancelOnLeaderLoss(api: ClientApi, call: StreamCall): void {
  const loss = api.leaderLoss$.pipe(take(1)).subscribe(() => {
    call.emit("error", toServiceError(Errors.NoLeader));
  });
  const done = () => loss.unsubscribe();
  call.once("close", done);
  call.once("finish", done);
  call.once("error", done);
}

function unaryCall(
  api: ClientApi,
  handler: UnaryHandler,
  metrics: GrpcMetrics,
  credentials: (call: ServerUnaryCall<unknown, unknown>) => RequestContext | undefined,
) {
  const startMeter = metrics.method(handler.definition.path, "unary");
  const waits = handler.waits;
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const meter = startMeter();
    meter.received();
    // Only handlers that wait (Lock, Campaign) listen for the client leaving: grpc-js reports
    // "cancelled" when any call's stream closes, so an AbortController per call costs every call.
    let signal: AbortSignal | undefined;
    if (waits) {
      const gone = new AbortController();
      call.on("cancelled", () => gone.abort());
      signal = gone.signal;
    }
    let answer: Promise<unknown>;
    try {
      checkRequireLeader(api, requiresLeader(call.metadata));
      answer = handler.handle(call.request, signal, credentials(call));
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (resp) => {
        meter.sent();
        meter.handled(GrpcCode.OK);
        callback(null, resp);
      },
      (err) => {
        const error = toServiceError(err);
        meter.handled(error.code);
        callback(error);
      },
    );
  };
}

/** Streaming RPCs with no implementation end with Unimplemented right away. */
function notServed(definition: AnyDefinition, metrics: GrpcMetrics) {
  const fail = () => {
    metrics.start(definition.path, grpcTypeOf(definition)).handled(GrpcCode.Unimplemented);
    return toServiceError(unimplemented(definition.path));
  };
  if (!definition.requestStream && !definition.responseStream) {
    return (_call: unknown, callback: sendUnaryData<unknown>) => callback(fail());
  }
  return (call: ServerWritableStream<unknown, unknown>) => call.emit("error", fail());
}

/**
 * One gRPC Watch stream = one ClientApi watch stream, both ways, until the client leaves. Its watchers
 * take places from its connection's budget. While the client does not read what is sent, the stream
 * neither reads its requests nor hands out events (its watchers fall behind and catch up from history
 * later), so a client that stops reading holds a bounded amount of the member's memory.
 */
function serveWatch(
  api: ClientApi,
  call: ServerDuplexStream<WatchRequest, WatchResponse>,
  meter: RpcMeter,
  ctx: RequestContext | undefined,
  budgets: ConnectionBudgets | undefined,
): void {
  const stream = api.watchStream(ctx, budgets ? { admission: budgets.watchers(call.getPeer()) } : undefined);
  let open = true;
  let held = false;
  const close = (code: number = GrpcCode.Canceled) => {
    if (!open) return;
    open = false;
    meter.handled(code);
    stream.close();
  };
  const release = () => {
    if (!held) return;
    held = false;
    stream.resume?.();
    if (open) call.resume();
  };
  stream.onResponse((resp) => {
    if (!open) return;
    meter.sent();
    if (call.write(resp) || held) return;
    held = true;
    stream.pause?.();
    call.pause();
    call.once("drain", release);
  });
  call.on("data", (req: WatchRequest) => {
    if (!open) return;
    meter.received();
    try {
      stream.request(req);
    } catch (err) {
      const error = toServiceError(err);
      close(error.code);
      call.emit("error", error);
    }
  });
  // A half-closed watch stream keeps delivering events, as etcd's does.
  call.on("cancelled", () => close());
  call.on("close", () => close());
  // the stream ended with an error (a refused request, or the member's leader lost for long)
  call.on("error", (err: { code?: number }) => close(err.code ?? GrpcCode.Canceled));
}

/** Keep-alives are answered one at a time, in request order; the stream ends after the client's end. */
function serveKeepAlive(
  api: ClientApi,
  call: ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>,
  meter: RpcMeter,
  ctx: RequestContext | undefined,
  budgets: ConnectionBudgets | undefined,
): void {
  const closeSlot = budgets?.openKeepAlive(call.getPeer());
  if (budgets && closeSlot === undefined) {
    const error = toServiceError(TOO_MANY);
    meter.handled(error.code);
    call.emit("error", error);
    return;
  }
  if (closeSlot) {
    call.once("close", closeSlot);
    call.once("finish", closeSlot);
    call.once("error", closeSlot);
    call.once("cancelled", closeSlot);
  }
  let queue: Promise<void> = Promise.resolve();
  let failed = false;
  // requests wait for the answers before them: a client that does not read its answers is not read
  let waiting = 0;
  const maxWaiting = 64;
  call.on("data", (req: LeaseKeepAliveRequest) => {
    meter.received();
    if (++waiting >= maxWaiting) call.pause();
    queue = queue.then(async () => {
      if (failed || call.cancelled) return;
      try {
        const answer = await keepAliveResponse(api, req.ID, ctx);
        if (failed || call.cancelled) return;
        if (!call.write(answer)) await drained(call);
        meter.sent();
      } catch (err) {
        failed = true;
        const error = toServiceError(err);
        meter.handled(error.code);
        call.emit("error", error);
      } finally {
        if (--waiting < maxWaiting) call.resume();
      }
    });
  });
  call.on("cancelled", () => meter.handled(GrpcCode.Canceled));
  // ended with an error (by a refused renewal, or the member's leader lost for long): no more answers
  call.on("error", (err: { code?: number }) => {
    failed = true;
    meter.handled(err.code ?? GrpcCode.Unknown);
  });
  call.on("end", () => {
    void queue.then(() => {
      if (failed || call.cancelled) return;
      meter.handled(GrpcCode.OK);
      call.end();
    });
  });
}

/** Settles once a stream whose write buffer is full can take more, or is gone. */
function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

async function serveSnapshot(
  api: ClientApi,
  call: ServerWritableStream<SnapshotRequest, SnapshotResponse>,
  meter: RpcMeter,
  ctx: RequestContext | undefined,
) {
  meter.received();
  let gone = false;
  call.on("cancelled", () => {
    gone = true;
    meter.handled(GrpcCode.Canceled);
  });
  call.on("error", (err: { code?: number }) => {
    gone = true;
    meter.handled(err.code ?? GrpcCode.Unknown);
  });
  try {
    for await (const message of snapshotMessages(api, ctx)) {
      if (gone) return;
      meter.sent();
      if (!call.write(message)) await Promise.race([once(call, "drain"), once(call, "cancelled")]);
    }
    meter.handled(GrpcCode.OK);
    call.end();
  } catch (err) {
    const error = toServiceError(err);
    meter.handled(error.code);
    if (!gone) call.emit("error", error);
  }
}

async function serveObserve(
  observe: ReturnType<typeof leaderObserver>,
  call: ServerWritableStream<LeaderRequest, LeaderResponse>,
  meter: RpcMeter,
  ctx: RequestContext | undefined,
) {
  meter.received();
  const gone = new AbortController();
  call.on("cancelled", () => {
    gone.abort();
    meter.handled(GrpcCode.Canceled);
  });
  try {
    for await (const answer of observe(call.request, gone.signal, ctx)) {
      meter.sent();
      call.write(answer);
    }
    if (!gone.signal.aborted) {
      meter.handled(GrpcCode.OK);
      call.end();
    }
  } catch (err) {
    const error = toServiceError(err);
    meter.handled(error.code);
    if (!gone.signal.aborted) call.emit("error", error);
  }
}
