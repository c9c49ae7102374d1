// The credentials a request carries, as etcd reads them: the `token` gRPC metadata entry (or
// `authorization`, the gateway's name for it), the gateway's `Authorization` header, and for gRPC over
// TLS the Common Name of a verified client certificate. The gateway never uses a certificate's name.
import type { IncomingHttpHeaders } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { Metadata } from "@grpc/grpc-js";
import type { RequestContext } from "../server/client-api.js";

/** gRPC metadata keys etcd reads a token from (rpctypes.TokenFieldNameGRPC / TokenFieldNameSwagger). */
const TOKEN_KEYS = ["token", "authorization"] as const;

/**
 * The metadata of a call known to carry no token (its headers have neither key): shared by such calls,
 * and not searched (a search of metadata makes an empty list for each key it misses).
 */
export const tokenlessMetadata = new Metadata();

/**
 * The metadata of a call as the credentials read it, from its request's header fields: built only
 * when they carry a token key (tokenlessMetadata otherwise).
 */
export function callMetadata(headers: IncomingHttpHeaders): Metadata {
  if (headers.token === undefined && headers.authorization === undefined) return tokenlessMetadata;
  return Metadata.fromHttp2Headers(headers);
}

/** The credentials of a gRPC call; undefined for an anonymous one (no allocation in the common case). */
export function grpcRequestContext(
  metadata: Metadata,
  commonName: string | undefined,
): RequestContext | undefined {
  if (metadata !== tokenlessMetadata)
    for (const key of TOKEN_KEYS) {
      const values = metadata.get(key);
      if (values.length > 0) return { token: String(values[0]) };
    }
  return commonName === undefined ? undefined : { commonName };
}

/** The credentials of a gateway request. */
export function httpRequestContext(headers: IncomingHttpHeaders): RequestContext | undefined {
  const token = headers.authorization;
  return token === undefined ? undefined : { token };
}

/**
 * The verified client-certificate names of the TLS connections that carry gRPC, by the peer name
 * grpc-js gives a call ("address:port"). The HTTP/2 layer sees only the wrapper stream the
 * connection is served through, so the wrapper is given the socket's addresses to be named by.
 */
export class TlsIdentities {
  private readonly names = new Map<string, string>();

  /** Registers a connection about to be served through `wrapper` (plain connections only get named). */
  track(socket: TLSSocket | import("node:net").Socket, wrapper: Duplex): void {
    const remoteAddress = socket.remoteAddress;
    const remotePort = socket.remotePort;
    if (wrapper !== (socket as Duplex)) {
      Object.defineProperty(wrapper, "remoteAddress", { value: remoteAddress, configurable: true });
      Object.defineProperty(wrapper, "remotePort", { value: remotePort, configurable: true });
    }
    const tls = socket as TLSSocket;
    if (!tls.encrypted || !tls.authorized || remoteAddress === undefined) return;
    const cn = tls.getPeerCertificate()?.subject?.CN;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (typeof name !== "string" || name === "") return;
    const peer = remotePort ? `${remoteAddress}:${remotePort}` : remoteAddress;
    this.names.set(peer, name);
    socket.once("close", () => this.names.delete(peer));
  }

  /** The certificate name of a call's connection, looked up only while some connection has one. */
  commonNameOf(call: { getPeer(): string }): string | undefined {
    return this.names.size === 0 ? undefined : this.names.get(call.getPeer());
  }
}
