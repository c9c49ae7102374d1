// The client side of a member: gRPC, the JSON gateway and the plain HTTP endpoints on one port.

export { type ClientLimits, defaultClientLimits, snapshotChunkBytes } from "./client-handlers.js";
export { clientThreadFromEnvironment, frontFromEnvironment } from "./front/front-option.js";
export { grpcOverheadBytes } from "./grpc/grpc-services.js";
export type { HttpExtension } from "./http/http-extension.js";
export { SERVER_VERSION } from "./http/http-handler.js";
export {
  type ApiLogger,
  type ClientListeners,
  type ClientTls,
  requiresClientCert,
  type ServeClientsOptions,
  serveClients,
} from "./serve.js";
export { type ClientHttp2, clientHttp2FromEnvironment } from "./wire/client-http2-option.js";
