// grpc-go's reading of a request's content-type: gRPC's is application/grpc, alone or followed by
// `+` or `;` and a subtype (application/grpc-web and application/grpcx are not), and an answer names
// the subtype back after a `+` (application/grpc;charset=UTF-8 is answered application/grpc+charset=UTF-8).

export const GRPC_TYPE = "application/grpc";
const PLUS = 0x2b;
const SEMICOLON = 0x3b;

/** Whether grpc-go takes a request with this content-type for gRPC. */
export function isGrpcContentType(type: string | undefined): type is string {
  if (type === undefined || !type.startsWith(GRPC_TYPE)) return false;
  if (type.length === GRPC_TYPE.length) return true;
  const c = type.charCodeAt(GRPC_TYPE.length);
  return c === PLUS || c === SEMICOLON;
}

/** The content-type of grpc-go's answer to a gRPC request of content-type `requestType`. */
export function grpcAnswerType(requestType: string): string {
  if (requestType.length === GRPC_TYPE.length) return GRPC_TYPE;
  return `${GRPC_TYPE}+${requestType.slice(GRPC_TYPE.length + 1)}`;
}
