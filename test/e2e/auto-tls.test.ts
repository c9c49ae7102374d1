// --peer-auto-tls and --auto-tls with real processes: members that made their own self-signed
// certificates talk to each other over https, keep their certificate across a restart, serve etcdctl
// over TLS when it skips verification, and mix with Debian's etcd doing the same.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe } from "node:test";
import { connect } from "node:tls";
import { Cluster, fastElections } from "./cluster-harness.js";
import {
  type Binary,
  debianEtcd,
  destroyAllMembers,
  e2eTest,
  etcdctl,
  eventually,
  Member,
} from "./harness.js";

/** The SHA-256 fingerprint of the certificate a TLS port presents (not verified: it is self-signed). */
function presentedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on("error", reject);
  });
}

function fixtureCert(m: Member, side: "peer" | "client"): X509Certificate {
  return new X509Certificate(readFileSync(join(m.dataDir, "fixtures", side, "cert.pem")));
}

/** A linearizable get of one key on one member, retried while the cluster settles. */
async function valueOn(m: Member, key: string): Promise<string> {
  return eventually(
    `${key} on ${m.name}`,
    async () => {
      const r = await m.etcdctl(["get", key, "--print-value-only"]);
      return r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : undefined;
    },
    30_000,
  );
}

describe("--peer-auto-tls", { timeout: 300_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "three members make their own certificates, replicate over https, and keep them across a restart",
    { timeout: 180_000 },
    async () => {
      const cluster = await Cluster.start({ size: 3, peerScheme: "https", extraArgs: ["--peer-auto-tls"] });
      const leader = await cluster.leader();
      assert.equal((await leader.etcdctl(["put", "auto-tls", "peers"])).code, 0);
      const before = new Map<Member, string>();
      for (const m of cluster.members) {
        assert.equal(await valueOn(m, "auto-tls"), "peers", m.name);
        const cert = fixtureCert(m, "peer");
        assert.equal(cert.subjectAltName, "IP Address:127.0.0.1");
        assert.equal(
          await presentedFingerprint(m.peerPort),
          cert.fingerprint256,
          `${m.name} serves its fixture`,
        );
        before.set(m, cert.fingerprint256);
      }
      // a plaintext peer gets nothing from a TLS peer port
      const plain = await fetch(`http://127.0.0.1:${leader.peerPort}/members`).then(
        (r) => r.status,
        () => 0,
      );
      assert.notEqual(plain, 200);

      const restarted = cluster.members.find((m) => m !== leader) as Member;
      await restarted.stop();
      assert.equal((await leader.etcdctl(["put", "while-down", "yes"])).code, 0);
      await restarted.restart();
      assert.equal(
        fixtureCert(restarted, "peer").fingerprint256,
        before.get(restarted),
        "the same certificate",
      );
      assert.equal(await presentedFingerprint(restarted.peerPort), before.get(restarted));
      assert.equal(
        await valueOn(restarted, "while-down"),
        "yes",
        "the restarted member caught up over https",
      );
      const log = restarted.logText(1_000_000);
      const created = log.match(/created cert file/g) ?? [];
      assert.equal(created.length, 1, "the certificate was made once, on the first start");
      assert.equal(
        (log.match(/starting with peer TLS/g) ?? []).length,
        2,
        "both starts say they use peer TLS",
      );
    },
  );

  e2eTest(
    "Debian's etcd and rxetcd members with --peer-auto-tls form one cluster",
    { timeout: 180_000 },
    async () => {
      if (!debianEtcd)
        throw new Error("etcd not found on PATH: apt-get install etcd-server (3.4.23) for this test");
      const binaries: Binary[] = ["etcd", "rxetcd", "rxetcd"];
      const token = `auto-tls-mixed-${Math.random().toString(36).slice(2, 8)}`;
      const members: Member[] = [];
      for (const [i, binary] of binaries.entries()) {
        members.push(
          await Member.create({
            binary,
            name: `x${i + 1}`,
            peerScheme: "https",
            extraArgs: [...fastElections, "--peer-auto-tls"],
            clusterArgs: ["--initial-cluster-token", token, "--initial-cluster-state", "new"],
            startTimeoutMs: 60_000,
          }),
        );
      }
      const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
      for (const m of members) m.initialCluster = initial;
      await Promise.all(members.map((m) => m.launch()));
      const [etcd, rx1, rx2] = members as [Member, Member, Member];

      assert.equal((await etcd.etcdctl(["put", "from-etcd", "1"])).code, 0);
      assert.equal((await rx1.etcdctl(["put", "from-rxetcd", "2"])).code, 0);
      for (const m of members) {
        assert.equal(await valueOn(m, "from-etcd"), "1", m.name);
        assert.equal(await valueOn(m, "from-rxetcd"), "2", m.name);
      }
      // etcd wrote its own fixture the same way
      const etcdCert = fixtureCert(etcd, "peer");
      assert.equal(await presentedFingerprint(etcd.peerPort), etcdCert.fingerprint256);
      assert.equal(await presentedFingerprint(rx2.peerPort), fixtureCert(rx2, "peer").fingerprint256);
      const list = await etcd.etcdctl(["member", "list"]);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(
        list.stdout
          .trim()
          .split("\n")
          .filter((l) => l.includes(", started, ")).length,
        3,
        list.stdout,
      );
    },
  );
});

describe("--auto-tls", { timeout: 120_000 }, () => {
  after(destroyAllMembers);

  e2eTest("clients reach the member over TLS when they skip verification", { timeout: 90_000 }, async () => {
    const m = await Member.start({ clientAutoTls: true });
    const endpoint = `--endpoints=https://127.0.0.1:${m.clientPort}`;
    // etcdctl 3.4 builds a TLS configuration (where it can skip verification) only without --insecure-transport
    const skip = [endpoint, "--insecure-transport=false", "--insecure-skip-tls-verify"];
    const put = await etcdctl([...skip, "put", "k", "over-auto-tls"]);
    assert.equal(put.code, 0, put.stderr);
    const get = await etcdctl([...skip, "get", "k", "--print-value-only"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), "over-auto-tls");

    const cert = fixtureCert(m, "client");
    assert.equal(await presentedFingerprint(m.clientPort), cert.fingerprint256);
    // a client that verifies refuses the self-signed certificate
    const verified = await etcdctl(
      [endpoint, "--insecure-transport=false", "--command-timeout=3s", "get", "k"],
      {
        timeoutMs: 15_000,
      },
    );
    assert.notEqual(verified.code, 0, verified.stdout);
  });
});
