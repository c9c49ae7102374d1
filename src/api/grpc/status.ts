// Errors leave the client API as gRPC statuses: an EtcdError keeps its code and exact text, anything
// else becomes Unknown with its raw text (etcd's togRPCError does the same).
import { GrpcCode, isClientVisibleError } from "../../rpctypes/errors.js";

/** The status a failed request ends with. */
export interface RpcStatus {
  code: GrpcCode;
  message: string;
}

export function toRpcStatus(err: unknown): RpcStatus {
  // this layer's EtcdError and the store's both carry the client's code and text
  if (isClientVisibleError(err)) return { code: err.code as GrpcCode, message: err.grpcMessage };
  return { code: GrpcCode.Unknown, message: err instanceof Error ? err.message : String(err) };
}

/** The object grpc-js turns into the call's status (code + details = message). */
export function toServiceError(err: unknown): Error & { code: number; details: string } {
  const s = toRpcStatus(err);
  return Object.assign(new Error(s.message), { code: s.code, details: s.message });
}
