// The differential test: seeded sequences of KV, txn, compaction, lease, watch, maintenance, Auth, lock, election and
// invalid requests sent in lockstep to Debian's etcd 3.4 and to rxetcd (one fresh member each), every answer, watch
// event, and answer of a waiting Lock or Campaign or a held Observe compared.
// More seeds: `npm run difftest -- --seeds N [--from S] [--ops K]`; a failure prints the command that replays it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { debianEtcd } from "../e2e/harness.js";
import { generate } from "./generator.js";
import type { Via } from "./runner.js";
import { report, runOps, withMembers } from "./runner.js";

const OPS = 200;
/**
 * Three seeds over gRPC, one with every other unary call through the HTTP gateway (answers compared as JSON), and one
 * with auth enabled (users with roles of their own, and no user, send the operations).
 */
const RUNS: Array<{ seed: number; via: Via; auth?: boolean }> = [
  { seed: 1, via: "grpc" },
  { seed: 2, via: "grpc" },
  { seed: 3, via: "grpc" },
  { seed: 4, via: "mixed" },
  { seed: 5, via: "mixed", auth: true },
];

for (const { seed, via, auth } of RUNS) {
  test(`seed ${seed} (${via}${auth ? ", auth" : ""}): ${OPS} operations get the same answers and watch events from etcd 3.4 and rxetcd`, {
    timeout: 180_000,
  }, async () => {
    assert.ok(
      debianEtcd,
      "Debian's etcd 3.4 is not installed (apt-get install etcd-server): the differential test has nothing to compare with",
    );
    const result = await withMembers((endpoints) =>
      runOps(generate(seed, OPS, { auth }), endpoints, { via, auth }),
    );
    assert.equal(result.divergence, undefined, report(seed, result));
    assert.equal(result.ops, OPS);
    assert.ok(result.compared >= OPS, `${result.compared} answers compared`);
  });
}
