// The configuration of a one-member cluster in a data dir, as the server tests start it: etcd's
// defaults, short ticks, a silent log; `overrides` changes any of it.
import { pino } from "pino";
import { memberPaths } from "../../src/server/bootstrap.js";
import type { ServerConfig } from "../../src/server/server-config.js";

export function singleMemberConfig(dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    paths: memberPaths(dataDir, ""),
    name: "default",
    initialCluster: new Map([["default", ["http://localhost:2380"]]]),
    initialClusterToken: "etcd-cluster",
    initialClusterState: "new",
    tickMs: 10,
    electionTicks: 10,
    snapshotCount: 100_000,
    snapshotCatchUpEntries: 5000,
    maxSnapshots: 5,
    maxTxnOps: 128,
    maxRequestBytes: 1.5 * 1024 * 1024,
    quotaBackendBytes: 0,
    preVote: false,
    clientUrls: ["http://localhost:2379"],
    peerUrls: ["http://localhost:2380"],
    strictReconfigCheck: true,
    logger: pino({ level: "silent" }),
    ...overrides,
  };
}
