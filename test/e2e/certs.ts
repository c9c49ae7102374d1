// Test certificates made with the openssl command: a CA, a server certificate for 127.0.0.1 and
// client certificates whose Common Names name users.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { which } from "./harness.js";

export interface CertPair {
  cert: string;
  key: string;
}

export interface TestCerts {
  ca: string;
  caKey: string;
  server: CertPair;
  clients: Record<string, CertPair>;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Signs a certificate for `cn` with the CA in `dir`; `ext` holds the extensions (SAN, key usage). */
export function signCert(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  cn: string,
  ext: string,
): CertPair {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.cert,
      "-CAkey",
      ca.key,
      "-CAcreateserial",
      "-out",
      cert,
      "-days",
      "2",
      "-extfile",
      extFile,
    ],
    dir,
  );
  return { cert, key };
}

export const SERVER_EXT =
  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";
export const CLIENT_EXT = "extendedKeyUsage=clientAuth\n";

/** A CA, a server certificate for 127.0.0.1, and one client certificate per Common Name. */
export function makeCerts(dir: string, clientNames: string[]): TestCerts {
  if (!which("openssl"))
    throw new Error("openssl not found on PATH: apt-get install openssl is needed for the TLS tests");
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      ca,
      "-days",
      "2",
      "-subj",
      "/CN=rxetcd test CA",
    ],
    dir,
  );
  const server = signCert(dir, { cert: ca, key: caKey }, "server", "server", SERVER_EXT);
  const clients: Record<string, CertPair> = {};
  for (const n of clientNames)
    clients[n] = signCert(dir, { cert: ca, key: caKey }, `client-${n}`, n, CLIENT_EXT);
  return { ca, caKey, server, clients };
}
