// --discovery-srv: the initial cluster from SRV records, asked of a tiny DNS server on a loopback UDP port
// through an injected resolver. The records' reading (this member by its advertised address, the others
// named 0, 1, ...; the -name suffix; etcd's errors), three members bootstrapping from them in-process, and
// a v2 proxy that takes its peer URLs from the same records.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { buildConfig, type Config, parseUrlList } from "../../src/config/index.js";
import { bootstrapClusterOf, dnsSrvResolver, srvClusterNames } from "../../src/discovery/index.js";
import { srvOrder } from "../../src/discovery/srv.js";
import { type Etcd, startEtcd } from "../../src/embed/index.js";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { etcdctl, freePort } from "../e2e/harness.js";
import { DnsResponder } from "./dns-responder.js";
import { failure } from "./failure.js";

const DOMAIN = "example.test";
const silent = pino({ level: "silent" });

describe("SRV records to an initial cluster", () => {
  let dns: DnsResponder;
  before(async () => {
    dns = await DnsResponder.start({});
  });
  after(() => dns.close());

  test("this member by its advertised address, the others by number; https records before http ones", async () => {
    dns.setZone({
      srv: {
        [`_etcd-server._tcp.${DOMAIN}`]: [
          { name: "localhost.", port: 10001 },
          { name: "peer-b.example.test.", port: 10002 },
          { name: "localhost.", port: 10003 },
        ],
      },
      a: { localhost: ["127.0.0.1"], "peer-b.example.test": ["127.0.0.2"] },
    });
    const found = await srvClusterNames({
      domain: DOMAIN,
      serviceName: "",
      name: "m3",
      advertisePeerUrls: ["http://localhost:10003"],
      resolver: dnsSrvResolver(dns.resolver()),
    });
    assert.deepEqual(found, [
      "0=http://localhost:10001",
      "1=http://peer-b.example.test:10002",
      "m3=http://localhost:10003",
    ]);
    assert.ok(dns.questions.includes(`SRV _etcd-server-ssl._tcp.${DOMAIN}`), dns.questions.join("\n"));

    dns.setZone({
      srv: {
        [`_etcd-server-ssl-blue._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10011 }],
        [`_etcd-server-blue._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10012 }],
        [`_etcd-server._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10099 }],
      },
      a: { localhost: ["127.0.0.1"] },
    });
    const lines: string[] = [];
    const note = (_: unknown, msg?: string) => {
      lines.push(msg ?? "");
    };
    const logger = { info: note, warn: note };
    const blue = await srvClusterNames({
      domain: DOMAIN,
      serviceName: "blue",
      name: "b",
      advertisePeerUrls: ["http://localhost:10012"],
      resolver: dnsSrvResolver(dns.resolver()),
      logger,
    });
    assert.deepEqual(blue, ["0=https://localhost:10011", "b=http://localhost:10012"]);
    assert.deepEqual(lines, ["get cluster for etcd-server-ssl SRV", "get cluster for etcd-server SRV"]);
  });

  test("records come in Go's order: by priority, then drawn by weight (a weight-0 record after the others)", () => {
    const rec = (name: string, priority: number, weight: number) => ({ name, port: 1, priority, weight });
    const records = [rec("a", 1, 0), rec("b", 1, 10), rec("c", 0, 0), rec("d", 2, 5), rec("e", 2, 5)];
    const names = (random: () => number) => srvOrder(records, random).map((r) => r.name);
    assert.deepEqual(
      names(() => 0),
      ["c", "b", "a", "d", "e"],
    );
    // a draw in the upper half of the equal weights picks the second of them
    assert.deepEqual(
      names(() => 0.99),
      ["c", "b", "a", "e", "d"],
    );
  });

  test("etcd's errors: no records, a scheme that is not this member's, this member missing", async () => {
    dns.setZone({ a: { localhost: ["127.0.0.1"] } });
    const resolver = dnsSrvResolver(dns.resolver());
    const opts = {
      domain: DOMAIN,
      serviceName: "",
      name: "m1",
      advertisePeerUrls: ["http://localhost:10001"],
      resolver,
    };
    assert.equal(
      (await failure(srvClusterNames(opts))).message,
      `error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.${DOMAIN} on 127.0.0.1:${dns.port}: no such host`,
    );
    dns.setZone({
      srv: { [`_etcd-server-ssl._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10001 }] },
      a: { localhost: ["127.0.0.1"] },
    });
    assert.equal(
      (await failure(srvClusterNames(opts))).message,
      "error querying DNS SRV records for _etcd-server-ssl bootstrap at https://localhost:10001 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://localhost:10001",
    );

    dns.setZone({
      srv: { [`_etcd-server._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10002 }] },
      a: { localhost: ["127.0.0.1"] },
    });
    const config = buildConfig({
      name: "m1",
      initialCluster: "",
      discoverySrv: DOMAIN,
      initialAdvertisePeerUrls: parseUrlList("http://localhost:10001"),
    });
    const missing = await failure(bootstrapClusterOf(config, { which: "etcd", srvResolver: resolver }));
    assert.equal(
      missing.message,
      'error setting up initial cluster: cannot find local etcd member "m1" in SRV records',
    );
    // a proxy need not be one of the members
    const asProxy = await bootstrapClusterOf(config, { which: "proxy", srvResolver: resolver });
    assert.deepEqual([...asProxy.members.keys()], ["0"]);
    assert.equal(asProxy.members.get("0")?.[0].href, "http://localhost:10002");
    // http peers: certificates are not checked against the domain
    assert.equal(asProxy.peerServerName, undefined);
  });

  test("https peers and no trusted CA: their certificates must name the domain (etcd's ServerName)", async () => {
    dns.setZone({
      srv: { [`_etcd-server-ssl._tcp.${DOMAIN}`]: [{ name: "localhost.", port: 10021 }] },
      a: { localhost: ["127.0.0.1"] },
    });
    const resolver = dnsSrvResolver(dns.resolver());
    const base = {
      name: "m1",
      initialCluster: "",
      discoverySrv: DOMAIN,
      initialAdvertisePeerUrls: parseUrlList("https://localhost:10021"),
    };
    const noCa = await bootstrapClusterOf(buildConfig(base), { which: "etcd", srvResolver: resolver });
    assert.equal(noCa.members.get("m1")?.[0].href, "https://localhost:10021");
    assert.equal(noCa.peerServerName, DOMAIN);
    // a trusted CA file: certificates are checked against each peer URL's host
    const config = buildConfig(base);
    const withCa = await bootstrapClusterOf(
      { ...config, peerTls: { ...config.peerTls, trustedCaFile: "/etc/ca.pem" } },
      { which: "etcd", srvResolver: resolver },
    );
    assert.equal(withCa.peerServerName, undefined);
  });
});

describe("three members bootstrapping from SRV records, and a proxy from the same records", {
  timeout: 120_000,
}, () => {
  let dns: DnsResponder;
  const members: Etcd[] = [];
  let proxy: RunningProxy | undefined;
  const dirs: string[] = [];
  after(async () => {
    await proxy?.close();
    for (const m of members) await m.close().catch(() => {});
    await dns?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("they form one cluster with the records' members; a put is read from each; the proxy serves it", async () => {
    const peerPorts = [await freePort(), await freePort(), await freePort()];
    dns = await DnsResponder.start({
      srv: { [`_etcd-server._tcp.${DOMAIN}`]: peerPorts.map((port) => ({ name: "localhost.", port })) },
      a: { localhost: ["127.0.0.1"] },
    });
    const srvResolver = dnsSrvResolver(dns.resolver());
    const configOf = async (i: number): Promise<Config> => {
      const dataDir = mkdtempSync(join(tmpdir(), "srv-member-"));
      dirs.push(dataDir);
      const client = `http://127.0.0.1:${await freePort()}`;
      return buildConfig({
        name: `s${i}`,
        dataDir,
        initialCluster: "",
        discoverySrv: DOMAIN,
        listenClientUrls: parseUrlList(client),
        advertiseClientUrls: parseUrlList(client),
        listenPeerUrls: parseUrlList(`http://127.0.0.1:${peerPorts[i]}`),
        initialAdvertisePeerUrls: parseUrlList(`http://localhost:${peerPorts[i]}`),
      });
    };
    const configs = await Promise.all([0, 1, 2].map(configOf));
    members.push(
      ...(await Promise.all(configs.map((c) => startEtcd(c, { logger: silent, feed: false, srvResolver })))),
    );
    const endpoints = members.map((m) => m.clientUrls[0].host);

    const list = await etcdctl([`--endpoints=${endpoints[0]}`, "member", "list"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(", "));
    assert.deepEqual(rows.map((r) => r[2]).sort(), ["s0", "s1", "s2"]);
    assert.deepEqual(rows.map((r) => r[3]).sort(), peerPorts.map((p) => `http://localhost:${p}`).sort());
    const put = await etcdctl([`--endpoints=${endpoints[1]}`, "put", "srv-key", "srv-value"]);
    assert.equal(put.code, 0, put.stderr);
    for (const e of endpoints) {
      const got = await etcdctl([`--endpoints=${e}`, "get", "srv-key", "--print-value-only"]);
      assert.equal(got.stdout.trim(), "srv-value", `read from ${e}: ${got.stderr}`);
    }

    const proxyDir = mkdtempSync(join(tmpdir(), "srv-proxy-"));
    dirs.push(proxyDir);
    const proxyUrl = `http://127.0.0.1:${await freePort()}`;
    const proxyConfig = buildConfig({
      name: "p",
      dataDir: proxyDir,
      proxy: "on",
      initialCluster: "",
      discoverySrv: DOMAIN,
      listenClientUrls: parseUrlList(proxyUrl),
    });
    proxy = await startProxy(proxyConfig, { logger: silent, srvResolver });
    const res = await fetch(`${proxyUrl}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("srv-key").toString("base64") }),
    });
    const doc = (await res.json()) as { kvs?: Array<{ value: string }> };
    assert.equal(Buffer.from(doc.kvs?.[0]?.value ?? "", "base64").toString(), "srv-value");

    // a restart from the WAL asks DNS nothing (the records are gone by now)
    dns.setZone({});
    const asked = dns.questions.length;
    const first = members.shift();
    await first?.close();
    const again = await startEtcd(configs[0], { logger: silent, feed: false, srvResolver });
    members.push(again);
    assert.equal(dns.questions.length, asked, dns.questions.slice(asked).join("\n"));
    const reread = await etcdctl([
      `--endpoints=${again.clientUrls[0].host}`,
      "get",
      "srv-key",
      "--print-value-only",
    ]);
    assert.equal(reread.stdout.trim(), "srv-value", reread.stderr);
  });
});
