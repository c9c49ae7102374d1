// The CA, certificate and key files an outgoing TLS connection presents, read once at start-up, with
// the flag that named a file in the error when it cannot be read.
import { readFileSync } from "node:fs";
import type { TlsConfig } from "../config/codec.js";
import type { PeerTls } from "../transport/http-util.js";

/** How the error names each file: the flag that gave it. */
export interface TlsFileNames {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** The files of `t` that are set; `rejectUnauthorized` false for self-signed (auto TLS) servers. */
export function readTlsFiles(t: TlsConfig, names: TlsFileNames, rejectUnauthorized: boolean): PeerTls {
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${name} ${path}: ${(err as Error).message}`);
    }
  };
  return {
    ...(t.trustedCaFile ? { ca: read(names.ca, t.trustedCaFile) } : {}),
    ...(t.certFile ? { cert: read(names.cert, t.certFile) } : {}),
    ...(t.keyFile ? { key: read(names.key, t.keyFile) } : {}),
    rejectUnauthorized,
  };
}
