// The gRPC side of the client port: etcd's services on a grpc-js Server that owns no listener
// (connections are injected by the port splitter).
import { once } from "node:events";
import {
  Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import {
  AuthService,
  ClusterService,
  KVService,
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
import { ElectionService } from "../../gen/v3electionpb/v3election.js";
import { LockService } from "../../gen/v3lockpb/v3lock.js";
import type { ClientApi } from "../../server/client-api.js";
import {
  type ClientLimits,
  keepAliveResponse,
  type MethodDefinition,
  snapshotMessages,
  type UnaryHandler,
  unimplemented,
} from "../client-handlers.js";
import { HealthService, healthImplementation } from "./health-service.js";
import { toServiceError } from "./status.js";

/** etcd's allowance on top of --max-request-bytes for the gRPC receive limit (grpcOverheadBytes). */
export const grpcOverheadBytes = 512 * 1024;

type AnyDefinition = MethodDefinition<unknown, unknown>;

/** A grpc-js server with every client service registered; it never binds a port itself. */
export function createGrpcServer(
  api: ClientApi,
  handlers: Map<string, UnaryHandler>,
  limits: ClientLimits,
): Server {
  const server = new Server({
    "grpc.max_receive_message_length": limits.maxRequestBytes + grpcOverheadBytes,
    "grpc.max_send_message_length": 2 ** 31 - 1,
  });
  const streams: Record<string, UntypedServiceImplementation[string]> = {
    [WatchService.watch.path]: ((call: ServerDuplexStream<WatchRequest, WatchResponse>) =>
      serveWatch(api, call)) as UntypedServiceImplementation[string],
    [LeaseService.leaseKeepAlive.path]: ((
      call: ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>,
    ) => serveKeepAlive(api, call)) as UntypedServiceImplementation[string],
    [MaintenanceService.snapshot.path]: ((call: ServerWritableStream<SnapshotRequest, SnapshotResponse>) =>
      void serveSnapshot(api, call)) as UntypedServiceImplementation[string],
  };
  const services: Record<string, AnyDefinition>[] = [
    KVService,
    WatchService,
    LeaseService,
    ClusterService,
    MaintenanceService,
    AuthService,
    LockService,
    ElectionService,
  ];
  for (const service of services) {
    const impl: UntypedServiceImplementation = {};
    for (const [name, definition] of Object.entries(service)) {
      const unary = handlers.get(definition.path);
      const stream = streams[definition.path];
      if (unary) impl[name] = unaryCall(unary);
      else if (stream) impl[name] = stream;
      else impl[name] = notServed(definition);
    }
    server.addService(service as unknown as ServiceDefinition, impl);
  }
  server.addService(HealthService as unknown as ServiceDefinition, healthImplementation());
  return server;
}

function unaryCall(handler: UnaryHandler) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const gone = new AbortController();
    call.on("cancelled", () => gone.abort());
    let answer: Promise<unknown>;
    try {
      answer = handler.handle(call.request, gone.signal);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (resp) => callback(null, resp),
      (err) => callback(toServiceError(err)),
    );
  };
}

/** Streaming RPCs with no implementation end with Unimplemented right away. */
function notServed(definition: AnyDefinition) {
  if (!definition.requestStream && !definition.responseStream) {
    return (_call: unknown, callback: sendUnaryData<unknown>) =>
      callback(toServiceError(unimplemented(definition.path)));
  }
  return (call: ServerWritableStream<unknown, unknown>) =>
    call.emit("error", toServiceError(unimplemented(definition.path)));
}

/** One gRPC Watch stream = one ClientApi watch stream, both ways, until the client leaves. */
function serveWatch(api: ClientApi, call: ServerDuplexStream<WatchRequest, WatchResponse>): void {
  const stream = api.watchStream();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    stream.close();
  };
  stream.onResponse((resp) => {
    if (open) call.write(resp);
  });
  call.on("data", (req: WatchRequest) => {
    if (!open) return;
    try {
      stream.request(req);
    } catch (err) {
      close();
      call.emit("error", toServiceError(err));
    }
  });
  // A half-closed watch stream keeps delivering events, as etcd's does.
  call.on("cancelled", close);
  call.on("close", close);
  call.on("error", close);
}

/** Keep-alives are answered one at a time, in request order; the stream ends after the client's end. */
function serveKeepAlive(
  api: ClientApi,
  call: ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>,
): void {
  let queue: Promise<void> = Promise.resolve();
  let failed = false;
  call.on("data", (req: LeaseKeepAliveRequest) => {
    queue = queue.then(async () => {
      if (failed || call.cancelled) return;
      try {
        call.write(await keepAliveResponse(api, req.ID));
      } catch (err) {
        failed = true;
        call.emit("error", toServiceError(err));
      }
    });
  });
  call.on("end", () => {
    void queue.then(() => {
      if (!failed && !call.cancelled) call.end();
    });
  });
}

async function serveSnapshot(api: ClientApi, call: ServerWritableStream<SnapshotRequest, SnapshotResponse>) {
  let gone = false;
  call.on("cancelled", () => {
    gone = true;
  });
  try {
    for await (const message of snapshotMessages(api)) {
      if (gone) return;
      if (!call.write(message)) await Promise.race([once(call, "drain"), once(call, "cancelled")]);
    }
    call.end();
  } catch (err) {
    if (!gone) call.emit("error", toServiceError(err));
  }
}
