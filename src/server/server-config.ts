import type { Logger } from "pino";
import type { ServerAuthConfig } from "./auth-setup.js";
import type { BootstrapInput } from "./bootstrap.js";
import type { CompactionPolicy } from "./compactor.js";

/** Peer TLS material, read at start-up. */
export interface PeerTlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** False for self-signed (auto TLS) peers, whose certificates cannot be verified. */
  rejectUnauthorized?: boolean;
  /** The name peers' certificates are checked against instead of each URL's host (the SRV domain). */
  serverName?: string;
}

export interface ServerConfig extends BootstrapInput {
  tickMs: number;
  electionTicks: number;
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  maxSnapshots: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  quotaBackendBytes: number;
  /** --backend-batch-interval: longest a backend write waits to be committed, ms (0: etcd's 100 ms). */
  backendBatchIntervalMs?: number;
  /** --backend-batch-limit: changes that make the backend commit at once (0: etcd's 10,000). */
  backendBatchLimit?: number;
  preVote: boolean;
  clientUrls: string[];
  /** --initial-advertise-peer-urls: where peers reach this member (sent as X-PeerURLs). */
  peerUrls: string[];
  /** --strict-reconfig-check: refuse membership changes that could cost the quorum. */
  strictReconfigCheck: boolean;
  /** --initial-election-tick-advance: fast-forward the election clock once peers are connected. */
  initialElectionTickAdvance?: boolean;
  /** --experimental-corrupt-check-time: the leader's periodic KV-hash comparison; 0 = off. */
  corruptCheckIntervalMs?: number;
  /** Certificates for dialing peers over https (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file). */
  peerTls?: PeerTlsFiles;
  /** --auto-compaction-mode/--auto-compaction-retention; undefined when off. */
  autoCompaction?: CompactionPolicy;
  /** --experimental-enable-lease-checkpoint (and -persist): the leader records remaining TTLs through raft. */
  leaseCheckpoint?: { intervalMs: number; persist: boolean };
  /** --experimental-watch-progress-notify-interval. */
  watchProgressNotifyIntervalMs?: number;
  /** --experimental-warning-apply-duration: applies slower than this are logged. */
  warningApplyMs?: number;
  /** --auth-token, --bcrypt-cost, --client-cert-auth (default: simple tokens, cost 10). */
  auth?: ServerAuthConfig;
  logger: Logger;
  /** Milliseconds clock, injectable for tests. */
  now?: () => number;
}
