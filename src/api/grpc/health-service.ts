// grpc.health.v1.Health as etcd registers it: the overall service ("") is SERVING.
// The two tiny messages are encoded here because the project has no generated code for them.

import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import type {
  ServerUnaryCall,
  ServerWritableStream,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { EtcdError, GrpcCode } from "../../rpctypes/errors.js";
import { toServiceError } from "./status.js";

export interface HealthCheckRequest {
  service: string;
}

export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckResponse {
  status: ServingStatus;
}

function decodeRequest(buf: Buffer): HealthCheckRequest {
  const reader = new BinaryReader(buf);
  let service = "";
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === 2) service = reader.string();
    else reader.skip(wireType);
  }
  return { service };
}

function encodeRequest(req: HealthCheckRequest): Buffer {
  const w = new BinaryWriter();
  if (req.service) w.tag(1, 2).string(req.service);
  return Buffer.from(w.finish());
}

function decodeResponse(buf: Buffer): HealthCheckResponse {
  const reader = new BinaryReader(buf);
  let status: number = ServingStatus.UNKNOWN;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === 0) status = reader.int32();
    else reader.skip(wireType);
  }
  return { status: status as ServingStatus };
}

function encodeResponse(resp: HealthCheckResponse): Buffer {
  const w = new BinaryWriter();
  if (resp.status) w.tag(1, 0).int32(resp.status);
  return Buffer.from(w.finish());
}

const common = {
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
};

export const HealthService = {
  check: { path: "/grpc.health.v1.Health/Check", requestStream: false, responseStream: false, ...common },
  watch: { path: "/grpc.health.v1.Health/Watch", requestStream: false, responseStream: true, ...common },
} as const;

/** Only the overall service name is known, as in etcd. */
function statusOf(service: string): ServingStatus | undefined {
  return service === "" ? ServingStatus.SERVING : undefined;
}

export function healthImplementation(): UntypedServiceImplementation {
  return {
    check(
      call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      callback: sendUnaryData<HealthCheckResponse>,
    ) {
      const status = statusOf(call.request.service);
      if (status === undefined) callback(toServiceError(new EtcdError(GrpcCode.NotFound, "unknown service")));
      else callback(null, { status });
    },
    watch(call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      // The status never changes here; the stream stays open until the client leaves.
      call.write({ status: statusOf(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN });
    },
  };
}
