// --client-crl-file and --peer-crl-file beside Debian's etcd: a client whose certificate the revocation
// list names is refused on the client port and on the peer port ("rejected connection" in the log), a
// certificate it does not name is served, a rewritten list applies without a restart, and the member
// keeps serving the others. An https metrics listener takes the client port's TLS, revocation list included.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { makeCerts, type TestCerts } from "./certs.js";
import { type Binary, destroyAllMembers, e2eTest, freePort, Member, needsDebianEtcd } from "./harness.js";

/** Revokes `certs` with the test CA and writes its revocation list to `out` (PEM). */
function revoke(dir: string, certs: TestCerts, pems: string[], out: string): void {
  const caDir = mkdtempSync(join(dir, "ca-"));
  writeFileSync(
    join(caDir, "ca.cnf"),
    "[ ca ]\ndefault_ca = test_ca\n[ test_ca ]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
  );
  writeFileSync(join(caDir, "index.txt"), "");
  writeFileSync(join(caDir, "crlnumber"), "01\n");
  const ca = ["-config", "ca.cnf", "-keyfile", certs.caKey, "-cert", certs.ca];
  const openssl = (args: string[]) =>
    execFileSync("openssl", args, { cwd: caDir, stdio: ["ignore", "ignore", "pipe"] });
  for (const pem of pems) openssl(["ca", ...ca, "-revoke", pem]);
  openssl(["ca", ...ca, "-gencrl", "-out", out]);
}

/** Whether a put with this client certificate succeeds (a refused one fails fast: short timeouts). */
async function putWith(m: Member, certs: TestCerts, user: string): Promise<boolean> {
  const r = await m.etcdctl(
    [
      "--cacert",
      certs.ca,
      "--cert",
      certs.clients[user].cert,
      "--key",
      certs.clients[user].key,
      "--dial-timeout=2s",
      "--command-timeout=4s",
      "put",
      `by/${user}`,
      "1",
    ],
    { timeoutMs: 20_000 },
  );
  return r.code === 0;
}

/** GET /version on the peer port with a client certificate: the status, or "refused" when the connection was closed. */
function peerVersion(m: Member, certs: TestCerts, user: string): Promise<number | "refused"> {
  return httpsStatus(`${m.peerUrl}/version`, certs, user);
}

/** GET of an https URL with a client certificate: the status, or "refused" when the connection was closed. */
function httpsStatus(url: string, certs: TestCerts, user: string): Promise<number | "refused"> {
  return new Promise((resolve) => {
    const req = httpsGet(
      url,
      {
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.clients[user].cert),
        key: readFileSync(certs.clients[user].key),
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve("refused"));
    req.on("timeout", () => req.destroy());
  });
}

describe("certificate revocation lists", { timeout: 400_000 }, () => {
  after(destroyAllMembers);
  const dir = mkdtempSync(join(tmpdir(), "crl-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  e2eTest(
    "revoked client and peer certificates are refused as etcd refuses them; a new list applies at once",
    { timeout: 300_000 },
    async () => {
      assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
      const certs = makeCerts(dir, ["alice", "bob", "carol"]);
      const seen: Partial<Record<Binary, unknown>> = {};
      for (const binary of ["etcd", "rxetcd"] as Binary[]) {
        const clientCrl = join(dir, `${binary}-client.crl`);
        const peerCrl = join(dir, `${binary}-peer.crl`);
        revoke(dir, certs, [certs.clients.bob.cert], clientCrl);
        revoke(dir, certs, [certs.clients.carol.cert], peerCrl);
        const metricsPort = await freePort();
        const m = await Member.start({
          binary,
          name: "n1",
          startTimeoutMs: 120_000,
          peerScheme: "https",
          clientTls: {
            ca: certs.ca,
            serverCert: certs.server.cert,
            serverKey: certs.server.key,
            clientCert: certs.clients.alice.cert,
            clientKey: certs.clients.alice.key,
          },
          extraArgs: [
            "--client-crl-file",
            clientCrl,
            "--peer-cert-file",
            certs.server.cert,
            "--peer-key-file",
            certs.server.key,
            "--peer-trusted-ca-file",
            certs.ca,
            "--peer-client-cert-auth",
            "--peer-crl-file",
            peerCrl,
            "--listen-metrics-urls",
            `https://127.0.0.1:${metricsPort}`,
          ],
        });
        const before = {
          alice: await putWith(m, certs, "alice"),
          bob: await putWith(m, certs, "bob"),
          peerAlice: await peerVersion(m, certs, "alice"),
          peerCarol: await peerVersion(m, certs, "carol"),
          metricsAlice: await httpsStatus(`https://127.0.0.1:${metricsPort}/health`, certs, "alice"),
          metricsBob: await httpsStatus(`https://127.0.0.1:${metricsPort}/health`, certs, "bob"),
        };
        // the list is read again on every handshake: alice is refused from now on, bob still
        revoke(dir, certs, [certs.clients.bob.cert, certs.clients.alice.cert], clientCrl);
        const later = {
          alice: await putWith(m, certs, "alice"),
          bob: await putWith(m, certs, "bob"),
          carol: await putWith(m, certs, "carol"),
        };
        const log = m.logText(10_000_000);
        assert.match(log, /rejected connection/, `${binary} logs the refusal`);
        assert.match(log, /revoked/, `${binary} says the certificate is revoked`);
        seen[binary] = { before, later };
        await m.destroy();
      }
      assert.deepEqual(seen.etcd, {
        before: {
          alice: true,
          bob: false,
          peerAlice: 200,
          peerCarol: "refused",
          metricsAlice: 200,
          metricsBob: "refused",
        },
        later: { alice: false, bob: false, carol: true },
      });
      assert.deepEqual(seen.rxetcd, seen.etcd);
    },
  );
});
