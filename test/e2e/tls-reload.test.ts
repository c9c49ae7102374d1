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
/** The serial of the certificate a port serves (a client certificate is presented: a trusted CA requires one). */
function servedSerial(port: number, ca: string, client: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = {
      host: "127.0.0.1",
      port,
      ca: [readFileSync(ca)],
      cert: readFileSync(client.cert),
      key: readFileSync(client.key),
      servername: "localhost",
    };
    const s = connect(options, () => {
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
  // a trusted CA makes the member require client certificates (as etcd 3.4 does), so every client brings one
  const files = () => ({
    ca: certs.ca,
    serverCert: served.cert,
    serverKey: served.key,
    clientCert: certs.clients["tls-client"].cert,
    clientKey: certs.clients["tls-client"].key,
  });
  const ctlTls = () => ["--cacert", certs.ca, "--cert", files().clientCert, "--key", files().clientKey];
  startMembersOnce(async () => {
    certs = makeCerts(dir, ["tls-client"]);
    copyFileSync(certs.server.cert, served.cert);
    copyFileSync(certs.server.key, served.key);
    metricsPort = await freePort();
    m = await Member.start({
      clientTls: files(),
      extraArgs: ["--listen-metrics-urls", `https://127.0.0.1:${metricsPort}`],
    });
  });
  after(async () => {
    await destroyAllMembers();
    rmSync(dir, { recursive: true, force: true });
  });

  e2eTest("metrics over https with the client certificates; /health there too", {}, async () => {
    const metrics = await tlsGet(`https://127.0.0.1:${metricsPort}/metrics`, files());
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^etcd_server_has_leader 1$/m);
    const health = await tlsGet(`https://127.0.0.1:${metricsPort}/health`, files());
    assert.deepEqual(health, { status: 200, text: '{"health":"true"}' });
  });

  e2eTest(
    "a rotated certificate is served without a restart; broken files keep the one in use",
    { timeout: 90_000 },
    async () => {
      const before = await servedSerial(m.clientPort, certs.ca, certs.clients["tls-client"]);
      assert.equal(before, await servedSerial(metricsPort, certs.ca, certs.clients["tls-client"]));
      const next = signCert(dir, { cert: certs.ca, key: certs.caKey }, "next", "server", SERVER_EXT);
      copyFileSync(next.key, served.key);
      copyFileSync(next.cert, served.cert);
      const rotated = await eventually(
        "the client port to serve the new certificate",
        async () => {
          const s = await servedSerial(m.clientPort, certs.ca, certs.clients["tls-client"]);
          return s !== before ? s : undefined;
        },
        20_000,
      );
      await eventually("the metrics port to serve it too", async () =>
        (await servedSerial(metricsPort, certs.ca, certs.clients["tls-client"])) === rotated
          ? true
          : undefined,
      );
      const get = await m.etcdctl([...ctlTls(), "put", "tls/k", "v"]);
      assert.equal(get.stdout, "OK\n", get.stderr);

      // half-written or mismatched files: the certificate in use stays
      writeFileSync(served.cert, "not a certificate");
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await servedSerial(m.clientPort, certs.ca, certs.clients["tls-client"]), rotated);
      assert.equal((await m.etcdctl([...ctlTls(), "get", "tls/k", "--print-value-only"])).stdout, "v\n");
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
    // a TLS client without a certificate is refused in the handshake, as etcd 3.4 refuses it whenever
    // --trusted-ca-file is given
    const noCert = await m.etcdctl([
      "--cacert",
      certs.ca,
      "--dial-timeout",
      "1s",
      "--command-timeout",
      "2s",
      "get",
      "tls/k",
    ]);
    assert.notEqual(noCert.code, 0, "a client without a certificate was served");
    await assert.rejects(
      tlsGet(`https://127.0.0.1:${metricsPort}/health`, { ...files(), clientCert: undefined }),
    );
    assert.equal((await m.etcdctl([...ctlTls(), "get", "tls/k", "--print-value-only"])).stdout, "v\n");
  });
});
