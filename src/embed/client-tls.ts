// The client port's certificates, read from --cert-file/--key-file/--trusted-ca-file and read again
// when they change on disk, so certificates can be rotated without a restart (etcd reads them on
// every handshake). A change that does not load (a key that does not match, half-written files) is
// logged and the certificates in use stay.
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import type { ClientTls } from "../api/index.js";
import type { TlsConfig } from "../config/codec.js";
import { RevocationCheck } from "./crl.js";

/** How often the files are checked for changes. */
const POLL_MS = 1000;

function readFiles(
  t: TlsConfig,
  ciphers: string | undefined,
  revoked: ClientTls["revoked"] | undefined,
): ClientTls {
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${flag} ${path}: ${(err as Error).message}`);
    }
  };
  const tls: ClientTls = {
    cert: read("--cert-file", t.certFile),
    key: read("--key-file", t.keyFile),
    ...(t.trustedCaFile ? { trustedCa: read("--trusted-ca-file", t.trustedCaFile) } : {}),
    clientCertAuth: t.clientCertAuth,
    ...(ciphers ? { ciphers } : {}),
    ...(revoked ? { revoked } : {}),
  };
  // fails here, naming the problem, rather than on the first handshake
  createSecureContext({
    cert: tls.cert,
    key: tls.key,
    ...(tls.trustedCa ? { ca: tls.trustedCa } : {}),
    ...(ciphers ? { ciphers } : {}),
  });
  return tls;
}

export class WatchedClientTls {
  private current: ClientTls;
  private readonly files: string[];
  private readonly listeners = new Set<(tls: ClientTls) => void>();
  /** --client-crl-file: read on every handshake, so it needs no watching. */
  private readonly revoked: ClientTls["revoked"] | undefined;

  /** Reads the files now (throwing with the flag's name when one is unreadable) and starts watching them. */
  constructor(
    private readonly config: TlsConfig,
    private readonly ciphers: string | undefined,
    private readonly log: Pick<Logger, "info" | "warn">,
  ) {
    this.revoked = config.crlFile ? new RevocationCheck(config.crlFile, log).refuses : undefined;
    this.current = readFiles(config, ciphers, this.revoked);
    this.files = [config.certFile, config.keyFile, config.trustedCaFile].filter((f) => f !== "");
    for (const f of this.files) watchFile(f, { interval: POLL_MS, persistent: false }, () => this.reload());
  }

  get tls(): ClientTls {
    return this.current;
  }

  /** Called with the new certificates after each successful reload. */
  onChange(listener: (tls: ClientTls) => void): void {
    this.listeners.add(listener);
  }

  reload(): void {
    try {
      this.current = readFiles(this.config, this.ciphers, this.revoked);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        "client certificates changed but cannot be loaded; keeping the ones in use",
      );
      return;
    }
    this.log.info({ "cert-file": this.config.certFile }, "reloaded client certificates");
    for (const l of this.listeners) l(this.current);
  }

  close(): void {
    for (const f of this.files) unwatchFile(f);
    this.listeners.clear();
  }
}
