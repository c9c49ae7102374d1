// What cluster tests check on real members: member lists and HashKV as etcdctl prints them, write load that
// records every acknowledged write, and that no acknowledged write is missing anywhere.
import assert from "node:assert/strict";
import { Etcd3, type Watcher } from "etcd3";
import type { Cluster } from "./cluster-harness.js";
import { cappedWatchBackoff, type Member, sleep } from "./harness.js";

export interface ListedMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

/** `member list -w json` with ids kept as decimal strings (JSON numbers above 2^53 lose digits). */
export async function memberList(m: Member): Promise<ListedMember[]> {
  const r = await m.etcdctl(["member", "list", "-w", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.replace(/"(ID|cluster_id|member_id)":(\d+)/g, '"$1":"$2"');
  return (JSON.parse(text) as { members: ListedMember[] }).members;
}

/** A decimal member id (as etcdctl's JSON prints it) in the hex etcdctl's arguments take. */
export const hex = (decimal: string) => BigInt(decimal).toString(16);

/** HashKV of each member at its latest revision: { revision, hash } per member. */
export async function hashes(members: Member[]): Promise<Array<{ revision: number; hash: number }>> {
  return Promise.all(
    members.map(async (m) => {
      const r = await m.etcdctl(["endpoint", "hashkv", "-w", "json"], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      const [h] = JSON.parse(r.stdout) as Array<{ HashKV: { header: { revision: number }; hash: number } }>;
      return { revision: h.HashKV.header.revision, hash: h.HashKV.hash };
    }),
  );
}

/** The members' HashKV once they all report the same revision and hash; undefined while they differ. */
export async function equalHashes(
  members: Member[],
): Promise<{ revision: number; hash: number } | undefined> {
  const hs = await hashes(members);
  return hs.every((h) => h.revision === hs[0].revision && h.hash === hs[0].hash) ? hs[0] : undefined;
}

/** Writes `n` keys `prefix00000…` through the etcd3 client, `parallel` at a time. */
export async function writeMany(cluster: Cluster, n: number, prefix = "bulk/", parallel = 32): Promise<void> {
  const client = new Etcd3({ hosts: cluster.members.filter((m) => m.running).map((m) => m.clientUrl) });
  try {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        await client.put(`${prefix}${String(i).padStart(5, "0")}`).value(`v${i}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    client.close();
  }
}

function loadClient(hosts: string[], deadlineMs = 5000): Etcd3 {
  return new Etcd3({
    hosts,
    faultHandling: { watchBackoff: cappedWatchBackoff() },
    dialTimeout: 3000,
    defaultCallOptions: () => ({ deadline: Date.now() + deadlineMs }),
  });
}

/**
 * Writers that put `prefix<writer>/<n>` = the key itself until stopped, through every member the client knows,
 * retrying after errors; `acked` holds every write the cluster acknowledged. The longest time without an
 * acknowledged write is what a client sees of an election or a membership change.
 */
export class WriteLoad {
  readonly acked = new Set<string>();
  private stopped = false;
  private readonly running: Promise<void>[];
  private client: Etcd3;
  private readonly retired: Etcd3[] = [];
  private lastAck = Date.now();
  /** The longest span (ms) between two acknowledged writes while the load ran. */
  longestGapMs = 0;
  /** The same since the last `takeGap()`. */
  private gapMs = 0;
  /** When that longest gap began (ms since the epoch). */
  gapStartedAt = 0;
  errors = 0;
  /** Errors by their text (the first line), to tell a member's refusal from the client's own circuit breaker. */
  readonly errorKinds = new Map<string, number>();

  constructor(
    hosts: string[],
    readonly prefix = "load/",
    writers = 4,
    /** Each write's deadline (the etcd3 client's per-call option). */
    private readonly deadlineMs = 5000,
  ) {
    this.client = loadClient(hosts, deadlineMs);
    let n = 0;
    const writer = async (w: number) => {
      while (!this.stopped) {
        const key = `${prefix}${w}/${n++}`;
        try {
          await this.client.put(key).value(key);
          this.acked.add(key);
          const now = Date.now();
          if (now - this.lastAck > this.gapMs) this.gapStartedAt = this.lastAck;
          this.gapMs = Math.max(this.gapMs, now - this.lastAck);
          this.longestGapMs = Math.max(this.longestGapMs, this.gapMs);
          this.lastAck = now;
        } catch (err) {
          this.errors++;
          const kind = `${(err as Error).name}: ${(err as Error).message}`.split("\n")[0].slice(0, 120);
          this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
          await sleep(50);
        }
      }
    };
    this.running = Array.from({ length: writers }, (_, w) => writer(w));
  }

  /** Points later writes at a new member list, as a client's endpoint sync does after a membership change. */
  setHosts(hosts: string[]): void {
    this.retired.push(this.client);
    this.client = loadClient(hosts, this.deadlineMs);
  }

  /** The longest gap since the previous call. */
  takeGap(): number {
    const g = this.gapMs;
    this.gapMs = 0;
    return g;
  }

  /** Resolves once `count` more writes than now have been acknowledged. */
  async more(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acked.size + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.size < target) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.acked.size} of ${target} writes acknowledged after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
    for (const c of [this.client, ...this.retired]) c.close();
  }
}

/**
 * A watch on a prefix from a revision on, that records the revision of every put event it receives. `setHosts`
 * moves it to a new member list by resuming from the revision after the last one seen (what a client does when
 * its member goes away); nothing may be missed in between.
 */
export class PrefixWatch {
  readonly seen = new Set<number>();
  private lastRevision: number;
  private client: Etcd3;
  private watcher: Watcher | undefined;
  private readonly retired: Etcd3[] = [];

  private constructor(
    hosts: string[],
    readonly prefix: string,
    fromRevision: number,
  ) {
    this.client = loadClient(hosts);
    this.lastRevision = fromRevision - 1;
  }

  static async start(hosts: string[], prefix: string, fromRevision: number): Promise<PrefixWatch> {
    const w = new PrefixWatch(hosts, prefix, fromRevision);
    await w.open();
    return w;
  }

  private async open(): Promise<void> {
    const w = await this.client
      .watch()
      .prefix(this.prefix)
      .startRevision(String(this.lastRevision + 1))
      .create();
    w.on("put", (kv) => {
      const rev = Number(kv.mod_revision);
      this.seen.add(rev);
      this.lastRevision = Math.max(this.lastRevision, rev);
    });
    this.watcher = w;
  }

  async setHosts(hosts: string[]): Promise<void> {
    const old = this.watcher;
    this.retired.push(this.client);
    this.client = loadClient(hosts);
    await this.open();
    await old?.cancel().catch(() => {});
  }

  /** Revisions in [from, to] that were written under the prefix but never reached this watch. */
  missed(written: number[]): number[] {
    return written.filter((r) => !this.seen.has(r));
  }

  async stop(): Promise<void> {
    await this.watcher?.cancel().catch(() => {});
    for (const c of [this.client, ...this.retired]) c.close();
  }
}

/** The mod revisions of every key under `prefix`, read from `member`. */
export async function modRevisions(member: Member, prefix: string): Promise<number[]> {
  const r = await member.etcdctl(["get", prefix, "--prefix", "-w", "json"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const kvs = (JSON.parse(r.stdout) as { kvs?: Array<{ mod_revision: number }> }).kvs ?? [];
  return kvs.map((kv) => kv.mod_revision);
}

/** Asserts that `member` serves every acknowledged key of the load with its value. */
export async function assertHasAll(member: Member, load: WriteLoad): Promise<void> {
  const r = await member.etcdctl(["get", load.prefix, "--prefix"], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const got = new Map<string, string>();
  const lines = r.stdout.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) got.set(lines[i], lines[i + 1]);
  const lost = [...load.acked].filter((k) => got.get(k) !== k);
  assert.deepEqual(
    lost.slice(0, 10),
    [],
    `${member.binary} ${member.name} lost ${lost.length} acknowledged writes`,
  );
}

/** The lines of a Debian etcd member's log at level error or worse (zap JSON lines). */
export function etcdErrorLines(member: Member): string[] {
  return member
    .logText(10_000_000)
    .split("\n")
    .filter((l) => /"level":"(error|dpanic|panic|fatal)"/.test(l));
}
