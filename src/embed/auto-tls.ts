// --auto-tls and --peer-auto-tls, resolved before any listener opens (etcd's ClientSelfCert and
// PeerSelfCert). When no certificate or key file is given, the side's TLS settings become the
// self-signed pair under <data-dir>/fixtures/{client,peer}; as in etcd 3.4 they replace that side's
// settings whole, so --peer-client-cert-auth, --peer-trusted-ca-file and the allowed CN/hostname
// are not in force then (self-signed members cannot vouch for each other), and members dial
// self-signed peers without checking their certificate.
import { join } from "node:path";
import type { Config, EtcdUrl, TlsConfig } from "../config/codec.js";
import type { InfoLog } from "./self-signed-cert.js";

/** Where auto TLS reports what it made and what it ignored (a pino logger fits). */
export interface AutoTlsLog extends InfoLog {
  warn(fields: object, msg: string): void;
}

export interface ResolvedTls {
  /** The configuration with the generated files in place of the auto-TLS settings. */
  config: Config;
  /** The peer certificate is self-signed: peers are dialed without verifying theirs. */
  peerSelfSigned: boolean;
}

type Side = "client" | "peer";

const FLAGS: Record<Side, { auto: string; ignored: string[] }> = {
  client: { auto: "--auto-tls", ignored: ["--client-cert-auth", "--trusted-ca-file"] },
  peer: {
    auto: "--peer-auto-tls",
    ignored: [
      "--peer-client-cert-auth",
      "--peer-trusted-ca-file",
      "--peer-cert-allowed-cn",
      "--peer-cert-allowed-hostname",
    ],
  },
};

/** Which of a side's settings a self-signed certificate drops (for the warning). */
function droppedSettings(side: Side, t: TlsConfig): string[] {
  const [certAuth, ca, cn, host] = FLAGS[side].ignored;
  return [
    t.clientCertAuth ? certAuth : undefined,
    t.trustedCaFile !== "" ? ca : undefined,
    t.allowedCn !== "" ? cn : undefined,
    t.allowedHostname !== "" ? host : undefined,
  ].filter((f): f is string => f !== undefined);
}

async function selfSigned(
  side: Side,
  tls: TlsConfig,
  dataDir: string,
  listenUrls: readonly EtcdUrl[],
  log: AutoTlsLog,
): Promise<TlsConfig | undefined> {
  if (!tls.autoTls) return undefined;
  if (tls.certFile !== "" || tls.keyFile !== "") {
    log.warn({}, `ignoring ${side} auto TLS since certs given`);
    return undefined;
  }
  const dropped = droppedSettings(side, tls);
  if (dropped.length > 0)
    log.warn(
      { ignored: dropped },
      `${FLAGS[side].auto} replaces the ${side} TLS settings: ${dropped.join(", ")} not in force`,
    );
  // the certificate code (and its ASN.1 libraries) is loaded only when auto TLS is on
  const { selfSignedCert } = await import("./self-signed-cert.js");
  const files = await selfSignedCert(
    join(dataDir, "fixtures", side),
    listenUrls.map((u) => u.hostname),
    log,
  );
  return {
    certFile: files.certFile,
    keyFile: files.keyFile,
    clientCertAuth: false,
    trustedCaFile: "",
    crlFile: "",
    allowedCn: "",
    allowedHostname: "",
    autoTls: true,
    skipClientSanVerification: false,
  };
}

/** Generates (or reuses) the self-signed certificates that --auto-tls / --peer-auto-tls ask for. */
export async function resolveAutoTls(config: Config, log: AutoTlsLog): Promise<ResolvedTls> {
  const peer = await selfSigned("peer", config.peerTls, config.dataDir, config.listenPeerUrls, log);
  const client = await selfSigned("client", config.clientTls, config.dataDir, config.listenClientUrls, log);
  return {
    config: { ...config, ...(peer ? { peerTls: peer } : {}), ...(client ? { clientTls: client } : {}) },
    peerSelfSigned: peer !== undefined,
  };
}
