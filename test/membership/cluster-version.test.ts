import assert from "node:assert/strict";
import { test } from "node:test";
import {
  clusterVersionToPropose,
  decideClusterVersion,
  downgradeProblem,
} from "../../src/membership/cluster-version.js";
import { compareSemVer, formatSemVer, parseSemVer } from "../../src/membership/semver.js";

test("go-semver parsing and printing", () => {
  assert.equal(formatSemVer(parseSemVer("3.4.23")), "3.4.23");
  assert.equal(formatSemVer(parseSemVer("03.04.0")), "3.4.0");
  assert.equal(formatSemVer(parseSemVer("3.5.0-alpha.0+git.abc")), "3.5.0-alpha.0+git.abc");
  assert.throws(() => parseSemVer("3.4"), /3\.4 is not in dotted-tri format/);
  assert.throws(() => parseSemVer("3.4.0.1"), /invalid syntax/);
  assert.throws(() => parseSemVer("3.4.x"), /invalid syntax/);
  assert.equal(formatSemVer(parseSemVer("3.4.0-")), "3.4.0", "an empty pre-release is none, as in go-semver");
  assert.throws(() => parseSemVer("3.4.0-a..b"), /not a valid semver identifier/);
});

test("go-semver ordering: numbers, then pre-releases below releases, numeric identifiers below words", () => {
  const order = [
    "3.0.0",
    "3.3.9",
    "3.4.0-alpha",
    "3.4.0-alpha.1",
    "3.4.0-alpha.beta",
    "3.4.0-beta.2",
    "3.4.0-beta.11",
    "3.4.0",
    "3.4.23",
    "3.10.0",
  ];
  for (let i = 0; i + 1 < order.length; i++) {
    assert.equal(
      compareSemVer(parseSemVer(order[i]), parseSemVer(order[i + 1])),
      -1,
      `${order[i]} < ${order[i + 1]}`,
    );
    assert.equal(compareSemVer(parseSemVer(order[i + 1]), parseSemVer(order[i])), 1);
  }
  assert.equal(compareSemVer(parseSemVer("3.4.0+a"), parseSemVer("3.4.0+b")), 0, "metadata is ignored");
});

test("the decided version is the lowest server version as major.minor.0; unknown members mean no decision", () => {
  assert.equal(decideClusterVersion("3.4.23", []), "3.4.0");
  assert.equal(decideClusterVersion("3.4.23", [{ etcdserver: "3.4.23" }, { etcdserver: "3.3.11" }]), "3.3.0");
  assert.equal(decideClusterVersion("3.4.23", [{ etcdserver: "3.5.9", etcdcluster: "3.5.0" }]), "3.4.0");
  assert.equal(decideClusterVersion("3.4.23", [{ etcdserver: "3.4.23" }, undefined]), undefined);
  assert.equal(decideClusterVersion("3.4.23", [{ etcdserver: "not a version" }]), undefined);
  // never above 3.4, whatever the local version claims
  assert.equal(decideClusterVersion("3.5.0", [{ etcdserver: "3.6.1" }]), "3.4.0");
});

test("what the leader proposes: the decision or 3.0.0 at first, later only increases", () => {
  assert.equal(clusterVersionToPropose(undefined, "3.4.0"), "3.4.0");
  assert.equal(clusterVersionToPropose(undefined, undefined), "3.0.0");
  assert.equal(clusterVersionToPropose("3.0.0", "3.4.0"), "3.4.0");
  assert.equal(clusterVersionToPropose("3.4.0", "3.4.0"), undefined);
  assert.equal(clusterVersionToPropose("3.4.0", "3.3.0"), undefined);
  assert.equal(clusterVersionToPropose("3.4.0", undefined), undefined);
});

test("the downgrade guard compares with this server's major.minor", () => {
  assert.equal(downgradeProblem(parseSemVer("3.4.0")), undefined);
  assert.equal(downgradeProblem(parseSemVer("3.0.0")), undefined);
  assert.match(downgradeProblem(parseSemVer("3.5.0")) ?? "", /invalid downgrade.*3\.4\.23.*3\.5/);
  assert.match(downgradeProblem(parseSemVer("3.4.1")) ?? "", /invalid downgrade/);
});
