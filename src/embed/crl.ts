// --client-crl-file and --peer-crl-file, as etcd 3.4 applies them: once a TLS handshake is done, a
// connection whose peer presented a certificate with a serial number the revocation list names is
// closed, and "rejected connection" is logged. The list is looked at on every handshake, so a new one
// applies without a restart; a list that cannot be read or parsed refuses every certificate, as in etcd.
// Only serial numbers are compared (etcd neither checks the list's signature nor its issuer).
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import type { TLSSocket } from "node:tls";
import type * as AsnSchema from "@peculiar/asn1-schema";
import type * as AsnX509 from "@peculiar/asn1-x509";
import type { Logger } from "pino";

/** A serial number as etcd prints it: the magnitude's bytes in lowercase hex, no leading zero byte. */
function serialHex(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return Buffer.from(bytes.subarray(start)).toString("hex");
}

/** The same form from a hex string (Node's `serialNumber`). */
function serialHexOf(text: string): string {
  const hex = BigInt(`0x${text}`).toString(16);
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

// The ASN.1 libraries are large and most members have no revocation list: they are loaded with the
// first list read.
const requireHere = createRequire(import.meta.url);

/** The serial numbers a CRL revokes (PEM "X509 CRL" or DER). */
export function revokedSerials(file: Buffer): Set<string> {
  const { AsnConvert } = requireHere("@peculiar/asn1-schema") as typeof AsnSchema;
  const { CertificateList } = requireHere("@peculiar/asn1-x509") as typeof AsnX509;
  const text = file.toString("latin1");
  const pem = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(text);
  const der = pem ? Buffer.from(pem[1].replace(/\s+/g, ""), "base64") : file;
  const crl = AsnConvert.parse(der, CertificateList);
  const serials = new Set<string>();
  for (const r of crl.tbsCertList.revokedCertificates ?? [])
    serials.add(serialHex(new Uint8Array(r.userCertificate)));
  return serials;
}

/** The serial numbers of the certificates a TLS peer presented, leaf first. */
function peerSerials(socket: TLSSocket): string[] {
  const serials: string[] = [];
  let cert = socket.getPeerCertificate(true);
  const seen = new Set<object>();
  while (cert && typeof cert.serialNumber === "string" && cert.serialNumber !== "" && !seen.has(cert)) {
    seen.add(cert);
    serials.push(serialHexOf(cert.serialNumber));
    cert = cert.issuerCertificate;
  }
  return serials;
}

export class RevocationCheck {
  private cached: { stamp: string; serials: Set<string> } | undefined;

  constructor(
    private readonly file: string,
    private readonly log: Pick<Logger, "warn">,
  ) {}

  /** Why the connection's certificate is refused, or undefined when it is not. */
  reason(socket: TLSSocket): string | undefined {
    const presented = peerSerials(socket);
    if (presented.length === 0) return undefined;
    let revoked: Set<string>;
    try {
      revoked = this.serials();
    } catch (err) {
      return `cannot read the certificate revocation list ${this.file}: ${(err as Error).message}`;
    }
    const hit = presented.find((s) => revoked.has(s));
    return hit === undefined ? undefined : `transport: certificate serial ${hit} revoked`;
  }

  /** Closes the connection when its certificate is revoked; true when it did. */
  readonly refuses = (socket: TLSSocket): boolean => {
    const why = this.reason(socket);
    if (why === undefined) return false;
    this.log.warn(
      {
        "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
        "server-name": typeof socket.servername === "string" ? socket.servername : "",
        error: why,
      },
      "rejected connection",
    );
    socket.destroy();
    return true;
  };

  private serials(): Set<string> {
    const st = statSync(this.file);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.cached?.stamp !== stamp)
      this.cached = { stamp, serials: revokedSerials(readFileSync(this.file)) };
    return this.cached.serials;
  }
}
