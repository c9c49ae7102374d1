// v2 discovery against Debian's etcd 3.4.23 as the discovery service (in-process, no member): the
// cluster from the first `size` registrations, a full cluster, etcd's errors, retries with the backoff
// when the service fails, and --discovery-proxy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { getCluster, joinCluster } from "../../src/discovery/index.js";
import { DiscoveryFailure } from "../../src/discovery/v2-discovery.js";
import { destroyAllMembers, freePort, needsDebianEtcd } from "../e2e/harness.js";
import { DiscoveryService, Front } from "./discovery-service.js";
import { failure } from "./failure.js";

interface Line {
  msg: string;
  [field: string]: unknown;
}

/** A logger that keeps what it is told. */
function recorder() {
  const lines: Line[] = [];
  const at = (msgOrFields: unknown, msg?: string) => {
    if (typeof msgOrFields === "string") lines.push({ msg: msgOrFields });
    else lines.push({ ...(msgOrFields as object), msg: msg ?? "" });
  };
  return { lines, logger: { info: at, warn: at, error: at } };
}

describe("v2 discovery against etcd 3.4.23's v2 keys API", {
  skip: needsDebianEtcd,
  timeout: 120_000,
}, () => {
  let service: DiscoveryService;
  before(async () => {
    service = await DiscoveryService.start();
  });
  after(destroyAllMembers);

  test("members that register wait for each other and get the same cluster, in registration order", async () => {
    const url = await service.token("3");
    const joins = [
      joinCluster({ url }, 0xa1n, "a=http://127.0.0.1:1001"),
      joinCluster({ url }, 0xb2n, "b=http://127.0.0.1:1002,b=http://127.0.0.1:1012"),
    ];
    // the third comes later: the first two wait for it on their watches
    await new Promise((r) => setTimeout(r, 300));
    const { lines, logger } = recorder();
    const third = await joinCluster({ url, logger }, 0xc3n, "c=http://127.0.0.1:1003");
    const all = [...(await Promise.all(joins)), third];
    const expected = (await service.registrations(url)).join(",");
    for (const got of all) assert.equal(got, expected);
    assert.deepEqual(expected.split(",").sort(), [
      "a=http://127.0.0.1:1001",
      "b=http://127.0.0.1:1002",
      "b=http://127.0.0.1:1012",
      "c=http://127.0.0.1:1003",
    ]);
    assert.ok(lines.some((l) => l.msg === "found self from discovery server" && l.self === "c3"));
    assert.ok(
      lines.some((l) => l.msg === "found all needed peers from discovery server" && l["found-peers"] === 3),
    );
  });

  test("a full cluster refuses a newcomer before it registers; a proxy's read gets the first `size`", async () => {
    const url = await service.token("1");
    assert.equal(await joinCluster({ url }, 1n, "one=http://127.0.0.1:2001"), "one=http://127.0.0.1:2001");
    const err = await failure(joinCluster({ url }, 2n, "two=http://127.0.0.1:2002"));
    assert.equal(err.message, "discovery: cluster is full");
    assert.deepEqual(await service.registrations(url), ["one=http://127.0.0.1:2001"]);
    assert.equal(await getCluster({ url }), "one=http://127.0.0.1:2001");
  });

  test("etcd's errors: the size key missing or bad, an id or a name registered twice", async () => {
    // etcd 3.4.23 passes the service's own error on for a missing size key (see v2-discovery.ts)
    const noSize = await failure(
      joinCluster({ url: await service.token(undefined) }, 1n, "x=http://127.0.0.1:1"),
    );
    assert.match(noSize.message, /^100: Key not found \(\/_etcd\/registry\/[0-9a-f]+(\/_config)?\) \[\d+\]$/);
    for (const bad of ["abc", "-1", " 3", "18446744073709551616"]) {
      const err = await failure(joinCluster({ url: await service.token(bad) }, 1n, "x=http://127.0.0.1:1"));
      assert.equal(err.message, "discovery: size key is bad", `size ${JSON.stringify(bad)}`);
    }
    const twice = await service.token("3");
    await service.put(`${twice}/7`, "x=http://127.0.0.1:1");
    assert.equal(
      (await failure(joinCluster({ url: twice }, 7n, "x=http://127.0.0.1:1"))).message,
      "discovery: found duplicate id",
    );
    const sameName = await service.token("2");
    await service.put(`${sameName}/8`, "dup=http://127.0.0.1:8");
    const dup = await failure(joinCluster({ url: sameName }, 9n, "dup=http://127.0.0.1:9"));
    assert.ok(dup instanceof DiscoveryFailure);
    assert.equal(dup.message, "discovery: found duplicate name");
  });

  test("a service that fails is asked again after etcd's doubling backoff", async () => {
    const url = await service.token("1");
    // the first two requests fail as a member without leader answers
    const front = await Front.start(service.url, (n) => (n <= 2 ? { status: 503, body: "{}" } : undefined));
    try {
      const { lines, logger } = recorder();
      const viaFront = url.replace(service.url, front.url);
      const got = await joinCluster({ url: viaFront, logger, retryUnitMs: 5 }, 5n, "five=http://127.0.0.1:5");
      assert.equal(got, "five=http://127.0.0.1:5");
      const retries = lines.filter((l) => l.msg === "retry connecting to discovery service");
      assert.deepEqual(
        retries.map((l) => [l.reason, l.backoff]),
        [
          ["cluster status check", "10ms"],
          ["cluster status check", "20ms"],
        ],
      );
      const failed = lines.find((l) => l.msg === "failed to get from discovery server");
      assert.equal(
        failed?.error,
        `client: etcd cluster is unavailable or misconfigured; error #0: client: etcd member ${front.url} has no leader\n`,
      );
    } finally {
      await front.close();
    }
  });

  test("a watch the service fails is taken up again after the backoff, from a fresh look at the cluster", async () => {
    const url = await service.token("2");
    let watchesFailed = 0;
    const front = await Front.start(service.url, (_, path) => {
      if (path.includes("recursive=true") && path.includes("wait=true") && watchesFailed === 0) {
        watchesFailed++;
        return { status: 500, body: "{}" };
      }
      return undefined;
    });
    try {
      const { lines, logger } = recorder();
      const first = joinCluster(
        { url: url.replace(service.url, front.url), logger, retryUnitMs: 5 },
        1n,
        "w1=http://127.0.0.1:1",
      );
      // the second registers once the first has seen its watch fail
      const deadline = Date.now() + 20_000;
      while (!lines.some((l) => l.msg === "retry connecting to discovery service")) {
        assert.ok(Date.now() < deadline, `no retry within 20 s: ${JSON.stringify(lines)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const second = await joinCluster({ url }, 2n, "w2=http://127.0.0.1:2");
      assert.equal(await first, second);
      const retry = lines.find((l) => l.msg === "retry connecting to discovery service");
      assert.equal(retry?.reason, "waiting for other nodes");
      assert.equal(watchesFailed, 1);
    } finally {
      await front.close();
    }
  });

  test("a service down: the dial error in Go's words, retried until maxRetries", async () => {
    const port = await freePort();
    const { lines, logger } = recorder();
    const url = `http://127.0.0.1:${port}/v2/keys/_etcd/registry/down`;
    const err = await failure(
      joinCluster({ url, logger, retryUnitMs: 1, maxRetries: 2 }, 1n, "x=http://127.0.0.1:1"),
    );
    assert.equal(err.message, "discovery: too many retries");
    const failed = lines.filter((l) => l.msg === "failed to get from discovery server");
    assert.equal(failed.length, 3);
    assert.equal(
      failed[0]["err-detail"],
      `error #0: dial tcp 127.0.0.1:${port}: connect: connection refused\n`,
    );
    assert.equal(failed[0].path, "/v2/keys/_etcd/registry/down/_config/size");
    assert.equal(failed[0]["discovery-url"], `http://127.0.0.1:${port}`);
  });

  test("a request past its time fails the discovery, without a retry (Go's context deadline)", async () => {
    const front = await Front.start(service.url, () => ({ status: 0, body: "" }));
    try {
      const { lines, logger } = recorder();
      const url = `${front.url}/v2/keys/_etcd/registry/slow`;
      const err = await failure(
        joinCluster({ url, logger, requestTimeoutMs: 200 }, 1n, "x=http://127.0.0.1:1"),
      );
      assert.equal(err.message, "context deadline exceeded");
      assert.equal(front.seen.length, 1);
      assert.ok(!lines.some((l) => l.msg === "retry connecting to discovery service"));
    } finally {
      await front.close();
    }
  });

  test("an endpoint that is not etcd is a bad discovery endpoint", async () => {
    const front = await Front.start(service.url, () => ({ status: 200, body: "<html>hello</html>" }));
    try {
      const url = `${front.url}/v2/keys/_etcd/registry/x`;
      const err = await failure(joinCluster({ url }, 1n, "x=http://127.0.0.1:1"));
      assert.equal(err.message, "discovery: bad discovery endpoint");
    } finally {
      await front.close();
    }
  });

  test("--discovery-proxy: every request goes through the HTTP proxy (given with or without scheme)", async () => {
    const proxy = await Front.start(service.url);
    try {
      for (const given of [proxy.url, proxy.url.replace("http://", "")]) {
        const url = await service.token("1");
        const { lines, logger } = recorder();
        const before = proxy.seen.length;
        const got = await joinCluster({ url, proxy: given, logger }, 3n, "p=http://127.0.0.1:3");
        assert.equal(got, "p=http://127.0.0.1:3");
        const seen = proxy.seen.slice(before);
        assert.ok(seen.length >= 4, seen.join("\n"));
        for (const line of seen)
          assert.ok(line.includes(`${url}`), `absolute URL sent to the proxy: ${line}`);
        assert.ok(
          lines.some((l) => l.msg === "running proxy with discovery" && l["proxy-url"] === proxy.url),
        );
      }
    } finally {
      await proxy.close();
    }
  });
});

describe("an https discovery service", { skip: needsDebianEtcd, timeout: 120_000 }, () => {
  let service: DiscoveryService;
  before(async () => {
    service = await DiscoveryService.start({ https: true });
  });
  after(destroyAllMembers);

  test("is asked over TLS, directly and through --discovery-proxy's CONNECT tunnel", async () => {
    assert.ok(service.url.startsWith("https://"));
    const ca = service.certificate;
    assert.ok(ca);
    const direct = await service.token("1");
    assert.equal(
      await joinCluster({ url: direct, ca, maxRetries: 2, retryUnitMs: 10 }, 1n, "t=http://127.0.0.1:1"),
      "t=http://127.0.0.1:1",
    );

    const proxy = await Front.start(service.url);
    try {
      const tunnelled = await service.token("1");
      assert.equal(
        await joinCluster(
          { url: tunnelled, ca, proxy: proxy.url, maxRetries: 2, retryUnitMs: 10 },
          2n,
          "u=http://127.0.0.1:2",
        ),
        "u=http://127.0.0.1:2",
      );
      const port = new URL(service.url).port;
      assert.ok(proxy.seen.length >= 4, proxy.seen.join("\n"));
      for (const line of proxy.seen) assert.equal(line, `CONNECT 127.0.0.1:${port}`);
    } finally {
      await proxy.close();
    }
  });
});
