import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type HostResolver,
  initialClusterOf,
  parseInitialCluster,
  retryingResolver,
  verifyInitialCluster,
} from "../../src/config/cluster.js";
import { config } from "./helpers.js";

const hosts: Record<string, string> = { localhost: "127.0.0.1", "node1.example": "10.0.0.1" };
const resolve: HostResolver = async (h) => {
  const ip = hosts[h];
  if (!ip) throw new Error(`lookup ${h}: no such host`);
  return ip;
};

async function problem(argv: string[]): Promise<string> {
  const c = config(argv);
  const cluster = initialClusterOf(c);
  assert.equal(cluster.kind, "static");
  if (cluster.kind !== "static") return "";
  try {
    await verifyInitialCluster(c, cluster.members, resolve);
  } catch (err) {
    return (err as Error).message;
  }
  return "ok";
}

describe("initial cluster checks for a member without data", () => {
  test("the default single-member cluster is fine", async () => {
    assert.equal(await problem([]), "ok");
    assert.equal(await problem(["--name=n1"]), "ok");
  });
  test("this member's name must be in the initial cluster", async () => {
    assert.equal(
      await problem(["--name=n3", "--initial-cluster=n1=http://10.0.0.1:2380"]),
      `couldn't find local name "n3" in the initial cluster configuration`,
    );
  });
  test("the cluster's URLs for this member must be the advertised peer URLs", async () => {
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://10.0.0.1:2380",
        "--initial-cluster=n1=http://10.0.0.9:2380",
      ]),
      '--initial-cluster has n1=http://10.0.0.9:2380 but missing from --initial-advertise-peer-urls=http://10.0.0.1:2380 (resolved urls: "http://10.0.0.1:2380" != "http://10.0.0.9:2380")',
    );
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.2:2380",
        "--initial-cluster=n1=http://10.0.0.1:2380",
      ]),
      "--initial-advertise-peer-urls has http://10.0.0.2:2380 but missing from --initial-cluster=n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380",
    );
  });
  test("hostnames and addresses that resolve alike match", async () => {
    // except localhost, which etcd's netutil never resolves (checked against etcdctl 3.4.23)
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=n1=http://localhost:2380",
      ]),
      '--initial-cluster has n1=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2380 (resolved urls: "http://127.0.0.1:2380" != "http://localhost:2380")',
    );
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://node1.example:2380",
        "--initial-cluster=n1=http://10.0.0.1:2380",
      ]),
      "ok",
    );
  });
  test("unresolvable or repeated URLs that cannot be matched", async () => {
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://nowhere.invalid:2380",
        "--initial-cluster=n1=http://10.0.0.1:2380",
      ]),
      "--initial-cluster has n1=http://10.0.0.1:2380 but missing from --initial-advertise-peer-urls=http://nowhere.invalid:2380 (lookup nowhere.invalid: no such host)",
    );
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.1:2380",
        "--initial-cluster=n1=http://10.0.0.1:2380",
      ]),
      'failed to resolve http://10.0.0.1:2380,http://10.0.0.1:2380 to match --initial-cluster=n1=http://10.0.0.1:2380,n1=http://10.0.0.1:2380 (len(["http://10.0.0.1:2380" "http://10.0.0.1:2380"]) != len(["http://10.0.0.1:2380"]))',
    );
  });
  test("joining an existing cluster through discovery is refused", async () => {
    const c = config(["--name=n1", "--initial-cluster-state=existing", "--discovery=https://d.example/x"]);
    const cluster = initialClusterOf(c);
    assert.equal(cluster.kind, "static");
    if (cluster.kind !== "static") return;
    await assert.rejects(
      verifyInitialCluster(c, cluster.members, resolve),
      /^Error: discovery URL should not be set when joining existing initial cluster$/,
    );
  });
  test("a peer URL may not appear twice", async () => {
    assert.equal(
      await problem([
        "--name=n1",
        "--initial-advertise-peer-urls=http://10.0.0.1:2380",
        "--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.1:2380",
      ]),
      "initial cluster n1=http://10.0.0.1:2380,n2=http://10.0.0.1:2380 has duplicate url",
    );
  });
  test("joining an existing cluster only needs this member listed once", async () => {
    assert.equal(
      await problem([
        "--name=n2",
        "--initial-cluster-state=existing",
        "--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380",
      ]),
      "ok",
    );
    assert.equal(
      await problem([
        "--name=n2",
        "--initial-cluster-state=existing",
        "--initial-cluster=n1=http://10.0.0.1:2380",
      ]),
      `couldn't find local name "n2" in the initial cluster configuration`,
    );
  });
  test("discovery starts from this member alone with the discovery URL as token", () => {
    const c = config(["--name=n1", "--discovery=https://d.example/abc"]);
    const cluster = initialClusterOf(c);
    assert.equal(cluster.kind, "static");
    if (cluster.kind !== "static") return;
    assert.equal(cluster.token, "https://d.example/abc");
    assert.deepEqual(
      cluster.members.get("n1")?.map((u) => u.href),
      ["http://localhost:2380"],
    );
    assert.deepEqual(initialClusterOf(config(["--discovery-srv=example.com"])), {
      kind: "srv",
      domain: "example.com",
      serviceName: "",
      token: "etcd-cluster",
    });
  });
  test("a malformed initial cluster is reported when it is read", () => {
    assert.throws(
      () => parseInitialCluster("n1=10.0.0.1:2380"),
      /^Error: error setting up initial cluster: parse "10.0.0.1:2380": first path segment in URL cannot contain colon$/,
    );
  });
});

describe("a name that does not resolve yet is tried again, as etcd's netutil does", () => {
  test("every interval until it resolves, each failure reported", async () => {
    let tries = 0;
    const flaky: HostResolver = async (h) => {
      tries++;
      if (tries < 3) throw new Error(`lookup ${h}: no such host`);
      return "10.0.0.7";
    };
    const retried: string[] = [];
    const resolve = retryingResolver(
      { intervalMs: 5, timeoutMs: 5000, onRetry: (h, err) => retried.push(`${h}: ${err.message}`) },
      flaky,
    );
    assert.equal(await resolve("late.example"), "10.0.0.7");
    assert.equal(tries, 3);
    assert.deepEqual(retried, [
      "late.example: lookup late.example: no such host",
      "late.example: lookup late.example: no such host",
    ]);
  });

  test("until the check's time is up, then the last failure is the answer", async () => {
    let tries = 0;
    const never: HostResolver = async (h) => {
      tries++;
      throw new Error(`lookup ${h}: no such host`);
    };
    const started = Date.now();
    // a second of retries every 20 ms: at least two tries even on a machine too busy to run the loop
    // for a while (one tenth of that once saw a single try), and never more than the interval allows
    const resolve = retryingResolver({ intervalMs: 20, timeoutMs: 1000 }, never);
    await assert.rejects(resolve("gone.example"), /^Error: lookup gone\.example: no such host$/);
    assert.ok(tries >= 2 && tries <= 51, `${tries} tries`);
    assert.ok(Date.now() - started < 5000);
  });
});
