// TLS on the client and metrics listeners: certificates rotated on disk are served without a
// restart, files that do not load leave the certificates in use, and clients that do not speak TLS
// fail while the member keeps serving.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { connect } from "node:tls";
import { makeCerts, SERVER_EXT, signCert, type TestCerts } from "./certs.js";
import {
  destroyAllMembers,
  e2eTest,
  eventually,
  freePort,
  Member,
  startMembersOnce,
  tlsGet,
} from "./harness.js";

/** The serial number of the certificate a TLS listener presents now. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, ca: [readFileSync(ca)], servername: "localhost" }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.on("error", reject);
  });
}

describe("client and metrics TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "e2e-tlsreload-"));
  let certs: TestCerts;
  let m: Member;
  let metricsPort: number;
  const served = { cert: join(dir, "served.pem"), key: join(dir, "served.key") };
  startMembersOnce(async () => {
    certs = makeCerts(dir, []);
    copyFileSync(certs.server.cert, served.cert);
    copyFileSync(certs.server.key, served.key);
    metricsPort = await freePort();
    m = await Member.start({
      clientTls: { ca: certs.ca, serverCert: served.cert, serverKey: served.key },
      extraArgs: ["--listen-metrics-urls", `https://127.0.0.1:${metricsPort}`],
    });
  });
  after(async () => {
    await destroyAllMembers();
    rmSync(dir, { recursive: true, force: true });
  });

  e2eTest("metrics over https with the client certificates; /health there too", {}, async () => {
    const files = { ca: certs.ca, serverCert: served.cert, serverKey: served.key };
    const metrics = await tlsGet(`https://127.0.0.1:${metricsPort}/metrics`, files);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^etcd_server_has_leader 1$/m);
    const health = await tlsGet(`https://127.0.0.1:${metricsPort}/health`, files);
    assert.deepEqual(health, { status: 200, text: '{"health":"true"}' });
  });

  e2eTest(
    "a rotated certificate is served without a restart; broken files keep the one in use",
    { timeout: 90_000 },
    async () => {
      const before = await servedSerial(m.clientPort, certs.ca);
      assert.equal(before, await servedSerial(metricsPort, certs.ca));
      const next = signCert(dir, { cert: certs.ca, key: certs.caKey }, "next", "server", SERVER_EXT);
      copyFileSync(next.key, served.key);
      copyFileSync(next.cert, served.cert);
      const rotated = await eventually(
        "the client port to serve the new certificate",
        async () => {
          const s = await servedSerial(m.clientPort, certs.ca);
          return s !== before ? s : undefined;
        },
        20_000,
      );
      await eventually("the metrics port to serve it too", async () =>
        (await servedSerial(metricsPort, certs.ca)) === rotated ? true : undefined,
      );
      const get = await m.etcdctl(["--cacert", certs.ca, "put", "tls/k", "v"]);
      assert.equal(get.stdout, "OK\n", get.stderr);

      // half-written or mismatched files: the certificate in use stays
      writeFileSync(served.cert, "not a certificate");
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await servedSerial(m.clientPort, certs.ca), rotated);
      assert.equal(
        (await m.etcdctl(["--cacert", certs.ca, "get", "tls/k", "--print-value-only"])).stdout,
        "v\n",
      );
      copyFileSync(next.cert, served.cert);
    },
  );

  e2eTest("plaintext clients on the TLS port fail; the member keeps serving", {}, async () => {
    await assert.rejects(
      fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(3000) }),
    );
    const plain = await m.etcdctl([
      "--endpoints",
      `http://127.0.0.1:${m.clientPort}`,
      "--dial-timeout",
      "1s",
      "--command-timeout",
      "2s",
      "get",
      "tls/k",
    ]);
    assert.notEqual(plain.code, 0);
    assert.equal(
      (await m.etcdctl(["--cacert", certs.ca, "get", "tls/k", "--print-value-only"])).stdout,
      "v\n",
    );
  });
});
