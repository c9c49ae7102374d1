// The proxy's TLS, as etcd's startProxy sets it up: members' client URLs are dialed with the client
// TLS files, or the peer ones when no client certificate is given (the old proxy's habit), without
// verifying them under --auto-tls; peers are dialed with the peer files (self-signed under
// --peer-auto-tls); https listeners under --auto-tls get a self-signed pair in <proxy dir>/clientCerts.
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config, TlsConfig } from "../config/codec.js";
import { resolveAutoTls } from "../embed/auto-tls.js";
import { readTlsFiles } from "../embed/tls-files.js";
import type { PeerTls } from "../transport/http-util.js";

export interface ProxyTls {
  /** For GET /members on the peer URLs. */
  peerDial: PeerTls;
  /** For the requests sent on to members' client URLs. */
  clientDial: PeerTls;
  /** The listeners' certificate settings (files to read, or none). */
  listen: TlsConfig;
}

const FILE_NAMES = { ca: "trusted CA file", cert: "certificate file", key: "key file" };

function readDialFiles(t: TlsConfig, rejectUnauthorized: boolean): PeerTls {
  return readTlsFiles(t, FILE_NAMES, rejectUnauthorized);
}

const hasCertificate = (t: TlsConfig) => t.certFile !== "" || t.keyFile !== "";

export async function resolveProxyTls(config: Config, proxyDir: string, log: Logger): Promise<ProxyTls> {
  // the peer side as a member resolves it (self-signed files under <data-dir>/fixtures/peer)
  const peer = await resolveAutoTls({ ...config, clientTls: { ...config.clientTls, autoTls: false } }, log);
  const peerTls = peer.config.peerTls;
  const client = config.clientTls;
  const clientDial = hasCertificate(client) ? client : peerTls;

  let listen = client;
  const clientUrls = [...config.listenClientUrls, ...config.advertiseClientUrls];
  if (client.autoTls && !hasCertificate(client) && clientUrls.some((u) => u.scheme === "https")) {
    const { selfSignedCert } = await import("../embed/self-signed-cert.js");
    const files = await selfSignedCert(
      join(proxyDir, "clientCerts"),
      clientUrls.map((u) => u.hostname),
      log,
    );
    listen = {
      ...client,
      certFile: files.certFile,
      keyFile: files.keyFile,
      clientCertAuth: false,
      trustedCaFile: "",
    };
  }
  return {
    peerDial: readDialFiles(peerTls, !peer.peerSelfSigned),
    clientDial: readDialFiles(clientDial, !client.autoTls),
    listen,
  };
}
