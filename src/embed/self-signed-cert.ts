// --auto-tls and --peer-auto-tls: a self-signed certificate and key made once per data dir, as etcd 3.4's
// transport.SelfCert makes them. An ECDSA P-521 key, one year of validity, organisation "etcd", usable
// for server authentication, naming every host of the listen URLs (IPs as IP SANs, names as DNS
// SANs). Existing files are used as they are, so a restart keeps the certificate its peers saw.
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_kp_serverAuth,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";

/** etcd 3.4 signs its self-signed certificates for 365 days. */
const VALIDITY_MS = 365 * 24 * 60 * 60 * 1000;
/** etcd 3.4's curve; the signature hash follows it (SHA-512). */
const CURVE = "secp521r1";
/** ecdsa-with-SHA512 (RFC 5758), the signature Go chooses for a P-521 key. */
const ECDSA_WITH_SHA512 = "1.2.840.10045.4.3.4";
/** id-at-organizationName. */
const ORGANIZATION = "2.5.4.10";

/** Where the created files are reported (a pino logger fits). */
export interface InfoLog {
  info(fields: object, msg: string): void;
}

export interface SelfSignedFiles {
  certFile: string;
  keyFile: string;
  /** False when both files were there already and are used as they are. */
  created: boolean;
}

/** The certificate's subject alternative names from the listen URLs' hosts (brackets of IPv6 removed). */
export function sanFromHosts(hostnames: readonly string[]): Array<{ type: "ip" | "dns"; value: string }> {
  return hostnames.map((h) => {
    const host = h.replace(/^\[|\]$/g, "");
    return isIP(host) ? { type: "ip" as const, value: host } : { type: "dns" as const, value: host };
  });
}

/**
 * `<dir>/cert.pem` and `<dir>/key.pem`: the existing pair when both files exist, otherwise a new
 * self-signed certificate for `hostnames` (written with the key readable by the owner only).
 */
export async function selfSignedCert(
  dir: string,
  hostnames: readonly string[],
  log: InfoLog,
): Promise<SelfSignedFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };

  const pair = generateKeyPairSync("ec", { namedCurve: CURVE });
  const der = certificateDer(pair.publicKey.export({ type: "spki", format: "der" }), hostnames, (tbs) =>
    sign("sha512", tbs, { key: pair.privateKey, dsaEncoding: "der" }),
  );
  writeFileSync(certFile, pem("CERTIFICATE", der));
  log.info({ path: certFile }, "created cert file");
  // etcd writes the key as SEC1 ("EC PRIVATE KEY")
  writeFileSync(keyFile, pair.privateKey.export({ type: "sec1", format: "pem" }), { mode: 0o600 });
  log.info({ path: keyFile }, "created key file");
  return { certFile, keyFile, created: true };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** The DER of a self-signed v3 certificate for the given public key, signed by `signTbs`. */
export function certificateDer(
  spki: Buffer,
  hostnames: readonly string[],
  signTbs: (tbs: Buffer) => Buffer,
  now = new Date(),
): Buffer {
  // a positive serial number below 2^128, as etcd draws it; its first byte is 1..0x7f so that the DER
  // INTEGER is minimal (a leading zero byte before one below 0x80 is "illegal padding" to OpenSSL)
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f || 0x01;
  const name = new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({
        type: ORGANIZATION,
        value: new AttributeValue({ printableString: "etcd" }),
      }),
    ]),
  ]);
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA512 });
  const san = new SubjectAlternativeName(
    sanFromHosts(hostnames).map((h) =>
      h.type === "ip" ? new GeneralName({ iPAddress: h.value }) : new GeneralName({ dNSName: h.value }),
    ),
  );
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(serial).buffer,
    signature: algorithm,
    issuer: name,
    subject: name,
    validity: new Validity({ notBefore: now, notAfter: new Date(now.getTime() + VALIDITY_MS) }),
    subjectPublicKeyInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
    extensions: new Extensions([
      extension(
        id_ce_keyUsage,
        true,
        new KeyUsage(KeyUsageFlags.keyEncipherment | KeyUsageFlags.digitalSignature),
      ),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      ...(san.length > 0 ? [extension(id_ce_subjectAltName, false, san)] : []),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const cert = new Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: new Uint8Array(signTbs(tbsDer)).buffer,
  });
  return Buffer.from(AsnConvert.serialize(cert));
}
