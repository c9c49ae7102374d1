import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultRouteInterface } from "../../src/config/default-host.js";
import { loadConfig } from "../../src/config/load.js";

const TABLE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
`;

function loaded(argv: string[], host: string | undefined) {
  const r = loadConfig(argv, {}, { defaultHost: () => host });
  if (r.kind !== "config") assert.fail(JSON.stringify(r));
  return r;
}

describe("default host for advertising", () => {
  test("the default route's interface is found in the route table", () => {
    assert.equal(defaultRouteInterface(TABLE), "eth0");
    assert.equal(defaultRouteInterface(TABLE.split("\n").slice(0, 2).join("\n")), undefined);
    assert.equal(defaultRouteInterface(""), undefined);
  });
  test("listening on 0.0.0.0 with default advertise URLs advertises the default host at the listen port", () => {
    const r = loaded(
      [
        "--name=n1",
        "--listen-peer-urls=http://0.0.0.0:12380",
        "--listen-client-urls=http://0.0.0.0:12379",
        "--advertise-client-urls=http://localhost:2379",
      ],
      "10.1.2.3",
    );
    assert.deepEqual(
      r.config.initialAdvertisePeerUrls.map((u) => u.href),
      ["http://10.1.2.3:12380"],
    );
    assert.deepEqual(
      r.config.advertiseClientUrls.map((u) => u.href),
      ["http://10.1.2.3:12379"],
    );
    assert.equal(r.config.initialCluster, "n1=http://10.1.2.3:12380", "the initial cluster follows");
    assert.ok(r.notices.some((n) => n.includes("10.1.2.3")));
  });
  test("explicit advertise URLs, other listen hosts, or no default host leave the URLs alone", () => {
    const explicit = loaded(
      [
        "--listen-peer-urls=http://0.0.0.0:2380",
        "--initial-advertise-peer-urls=http://10.0.0.5:2380",
        "--initial-cluster=default=http://10.0.0.5:2380",
      ],
      "10.1.2.3",
    );
    assert.deepEqual(
      explicit.config.initialAdvertisePeerUrls.map((u) => u.href),
      ["http://10.0.0.5:2380"],
    );
    const specific = loaded(["--listen-peer-urls=http://127.0.0.1:2380"], "10.1.2.3");
    assert.deepEqual(
      specific.config.initialAdvertisePeerUrls.map((u) => u.href),
      ["http://localhost:2380"],
    );
    const none = loaded(["--listen-peer-urls=http://0.0.0.0:2380"], undefined);
    assert.deepEqual(
      none.config.initialAdvertisePeerUrls.map((u) => u.href),
      ["http://localhost:2380"],
    );
  });
});
