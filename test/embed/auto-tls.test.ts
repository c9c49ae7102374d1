// The self-signed certificates of --auto-tls / --peer-auto-tls: what they hold (etcd 3.4's choices),
// that existing files are used as they are, and how they replace a side's TLS settings.
import assert from "node:assert/strict";
import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  generateKeyPairSync,
  X509Certificate,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createSecureContext } from "node:tls";
import { defaultConfig } from "../../src/config/defaults.js";
import { parseEtcdUrl } from "../../src/config/urls.js";
import { resolveAutoTls } from "../../src/embed/auto-tls.js";
import { certificateDer, selfSignedCert } from "../../src/embed/self-signed-cert.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "auto-tls-"));
  dirs.push(d);
  return d;
}

interface Logged {
  level: "info" | "warn";
  msg: string;
  fields: object;
}
function recorder(): {
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void };
  lines: Logged[];
} {
  const lines: Logged[] = [];
  return {
    lines,
    log: {
      info: (fields, msg) => lines.push({ level: "info", msg, fields }),
      warn: (fields, msg) => lines.push({ level: "warn", msg, fields }),
    },
  };
}

describe("selfSignedCert", () => {
  test("a P-521 certificate for the listen hosts, signed by its own key, valid one year", async () => {
    const dir = join(tempDir(), "fixtures", "peer");
    const { log, lines } = recorder();
    const files = await selfSignedCert(dir, ["127.0.0.1", "member-1.example", "[::1]"], log);
    assert.equal(files.created, true);
    assert.equal(files.certFile, join(dir, "cert.pem"));
    assert.equal(files.keyFile, join(dir, "key.pem"));

    const cert = new X509Certificate(readFileSync(files.certFile));
    assert.ok(cert.verify(cert.publicKey), "self-signed: the certificate's own key verifies it");
    assert.equal(cert.subject, "O=etcd");
    assert.equal(cert.issuer, "O=etcd");
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"], "server authentication only, as etcd 3.4");
    assert.equal(
      cert.subjectAltName,
      "IP Address:127.0.0.1, DNS:member-1.example, IP Address:0:0:0:0:0:0:0:1",
    );
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp521r1");
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.equal(Math.round(days), 365);
    assert.ok(Date.parse(cert.validFrom) <= Date.now());

    const keyPem = readFileSync(files.keyFile, "utf8");
    assert.match(keyPem, /^-----BEGIN EC PRIVATE KEY-----\n/, "SEC1, as etcd writes it");
    const key = createPrivateKey(keyPem);
    assert.ok(cert.checkPrivateKey(key), "the key belongs to the certificate");
    assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        ["info", "created cert file"],
        ["info", "created key file"],
      ],
    );
  });

  test("existing files are used as they are; a lone certificate is replaced with a new pair", async () => {
    const dir = tempDir();
    const first = await selfSignedCert(dir, ["127.0.0.1"], recorder().log);
    const pem = readFileSync(first.certFile, "utf8");
    const { log, lines } = recorder();
    const again = await selfSignedCert(dir, ["10.0.0.1"], log);
    assert.equal(again.created, false);
    assert.equal(readFileSync(again.certFile, "utf8"), pem, "the same certificate after a restart");
    assert.deepEqual(lines, [], "nothing created, nothing logged");

    rmSync(first.keyFile);
    const fresh = await selfSignedCert(dir, ["10.0.0.1"], recorder().log);
    assert.equal(fresh.created, true);
    const cert = new X509Certificate(readFileSync(fresh.certFile));
    assert.notEqual(cert.toString(), pem);
    assert.equal(cert.subjectAltName, "IP Address:10.0.0.1");
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(fresh.keyFile))));
  });

  test("serial numbers are random and positive", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const dir = tempDir();
      const f = await selfSignedCert(dir, ["127.0.0.1"], recorder().log);
      const cert = new X509Certificate(readFileSync(f.certFile));
      serials.add(cert.serialNumber);
      assert.ok(createPublicKey(cert.publicKey.export({ type: "spki", format: "pem" })));
    }
    assert.equal(serials.size, 4);
  });
});

describe("resolveAutoTls", () => {
  function config(dataDir: string) {
    const c = defaultConfig();
    c.dataDir = dataDir;
    c.listenPeerUrls = [parseEtcdUrl("https://127.0.0.1:2380")];
    c.listenClientUrls = [parseEtcdUrl("https://localhost:2379")];
    return c;
  }

  test("--peer-auto-tls replaces the peer settings whole and says which flags are not in force", async () => {
    const dataDir = tempDir();
    const c = config(dataDir);
    c.peerTls.autoTls = true;
    c.peerTls.clientCertAuth = true;
    c.peerTls.trustedCaFile = "/nowhere/ca.pem";
    const { log, lines } = recorder();
    const r = await resolveAutoTls(c, log);
    assert.equal(r.peerSelfSigned, true);
    assert.equal(r.config.peerTls.certFile, join(dataDir, "fixtures", "peer", "cert.pem"));
    assert.equal(r.config.peerTls.keyFile, join(dataDir, "fixtures", "peer", "key.pem"));
    assert.equal(r.config.peerTls.clientCertAuth, false);
    assert.equal(r.config.peerTls.trustedCaFile, "");
    assert.equal(r.config.clientTls.certFile, "", "the client side is untouched");
    const warn = lines.find((l) => l.level === "warn");
    assert.ok(warn, JSON.stringify(lines));
    assert.match(warn.msg, /--peer-client-cert-auth, --peer-trusted-ca-file not in force/);
    const cert = new X509Certificate(readFileSync(r.config.peerTls.certFile));
    assert.equal(cert.subjectAltName, "IP Address:127.0.0.1");
  });

  test("--auto-tls makes the client pair under fixtures/client for the client hosts", async () => {
    const dataDir = tempDir();
    const c = config(dataDir);
    c.clientTls.autoTls = true;
    const r = await resolveAutoTls(c, recorder().log);
    assert.equal(r.peerSelfSigned, false);
    assert.equal(r.config.clientTls.certFile, join(dataDir, "fixtures", "client", "cert.pem"));
    const cert = new X509Certificate(readFileSync(r.config.clientTls.certFile));
    assert.equal(cert.subjectAltName, "DNS:localhost");
  });

  test("given certificate files win over auto TLS, with etcd's warning", async () => {
    const dataDir = tempDir();
    const c = config(dataDir);
    const certFile = join(dataDir, "given.pem");
    writeFileSync(certFile, "");
    c.peerTls.autoTls = true;
    c.peerTls.certFile = certFile;
    c.clientTls.autoTls = true;
    c.clientTls.keyFile = certFile;
    const { log, lines } = recorder();
    const r = await resolveAutoTls(c, log);
    assert.equal(r.peerSelfSigned, false);
    assert.equal(r.config.peerTls.certFile, certFile);
    assert.equal(r.config.clientTls.keyFile, certFile);
    assert.deepEqual(
      lines.map((l) => l.msg),
      ["ignoring peer auto TLS since certs given", "ignoring client auto TLS since certs given"],
    );
  });
});

test("every self-signed certificate's DER is minimal: 2,000 serial numbers load into a TLS context", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  // a serial drawn with a leading zero byte (about 1 in 256 before) made OpenSSL refuse the certificate
  for (let i = 0; i < 2000; i++) {
    const der = certificateDer(spki, ["localhost"], (tbs) => cryptoSign("sha256", tbs, privateKey));
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
    assert.doesNotThrow(() => createSecureContext({ cert: pem, key: keyPem }), `certificate ${i}`);
  }
});
