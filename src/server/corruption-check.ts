// etcd 3.4's KV-hash corruption checks. At start (--experimental-initial-corrupt-check) a member
// compares its hash with every peer's at its own revision and refuses to serve on a mismatch at the
// same compaction revision. Periodically (--experimental-corrupt-check-time) the leader does the same
// after a linearizable read and raises the CORRUPT alarm through raft when a follower is ahead of it
// or disagrees with it.
import { filter, interval, mergeMap, type Observable } from "rxjs";
import { AlarmRequest_AlarmAction, AlarmType } from "../gen/etcdserverpb/rpc.js";
import { formatId } from "../membership/ids.js";
import { fetchHashKV } from "../transport/peer-client.js";
import { requestTimeoutMs, type ServerCore } from "./server-core.js";

interface PeerHash {
  id: bigint;
  revision: number;
  hash: number;
  compactRevision: number;
}

/** Every peer's hash at `revision`, from the first of its peer URLs that answers. */
async function peerHashes(core: ServerCore, revision: number): Promise<PeerHash[]> {
  const out: PeerHash[] = [];
  for (const m of core.cluster.list()) {
    if (m.id === core.memberId) continue;
    for (const url of m.peerUrls) {
      const h = await fetchHashKV(url, revision, requestTimeoutMs(core.cfg), core.cfg.peerTls);
      if (h) {
        out.push({ id: m.id, ...h });
        break;
      }
      core.log.warn(
        { "remote-peer-endpoint": url, "requested-revision": revision },
        "failed hash kv request",
      );
    }
  }
  return out;
}

/** The local hash as etcd reports it: compact revision -1 until the first compaction. */
function localHash(core: ServerCore) {
  const h = core.store.hashKV(0);
  return {
    hash: h.hash,
    revision: h.currentRevision,
    compactRevision: h.compactRevision === 0 ? -1 : h.compactRevision,
  };
}

/** The start-up check: throws when a peer has another hash at the same revision and compaction. */
export async function checkInitialHashKV(core: ServerCore): Promise<void> {
  const local = localHash(core);
  let mismatches = 0;
  for (const p of await peerHashes(core, local.revision)) {
    if (p.hash === local.hash) continue;
    if (p.compactRevision === local.compactRevision) {
      core.log.error(
        {
          "local-member-id": formatId(core.memberId),
          "local-member-hash": local.hash,
          "remote-peer-id": formatId(p.id),
          "remote-peer-hash": p.hash,
          revision: local.revision,
          "compact-revision": local.compactRevision,
        },
        "found different hash values from remote peer",
      );
      mismatches++;
    } else {
      core.log.warn(
        { "remote-peer-id": formatId(p.id), "remote-peer-compact-revision": p.compactRevision },
        "cannot check hash of peer: it has a different compact revision",
      );
    }
  }
  if (mismatches > 0) throw new Error(`${formatId(core.memberId)} found data inconsistency with peers`);
  core.log.info(
    { "local-member-id": formatId(core.memberId) },
    "initial corruption checking passed; no corruption",
  );
}

export interface PeriodicCheckDeps {
  core: ServerCore;
  intervalMs: number;
  /** Waits until this member's state is linearizable (a ReadIndex round). */
  waitReadable(): Promise<void>;
  /** Raises CORRUPT through raft. */
  raiseCorrupt(): Promise<void>;
}

/** The leader's periodic check (etcd's checkHashKV); the stream runs until the member stops. */
export function periodicCorruptionCheck$(d: PeriodicCheckDeps): Observable<unknown> {
  const { core } = d;
  return interval(d.intervalMs).pipe(
    filter(() => core.raft.leadership$.value.isLeader),
    mergeMap(async () => {
      try {
        await checkOnce(d);
      } catch (err) {
        core.log.warn({ err }, "failed to check hash KV");
      }
    }, 1),
  );
}

async function checkOnce(d: PeriodicCheckDeps): Promise<void> {
  const { core } = d;
  const first = localHash(core);
  const peers = await peerHashes(core, first.revision);
  await d.waitReadable();
  const second = localHash(core);
  let alarmed = false;
  const mismatch = (id: bigint, why: string) => {
    core.log.warn({ "member-id": formatId(id), reason: why }, "corruption detected");
    if (alarmed) return;
    alarmed = true;
    void d
      .raiseCorrupt()
      .catch((err: unknown) => core.log.warn({ err }, "failed to raise the CORRUPT alarm"));
  };
  if (
    second.hash !== first.hash &&
    second.revision === first.revision &&
    second.compactRevision === first.compactRevision
  )
    mismatch(
      core.memberId,
      `mismatched hashes ${first.hash} and ${second.hash} for revision ${first.revision}`,
    );
  for (const p of peers) {
    // a follower is never ahead of the leader, and agrees with it at the same compaction
    if (p.revision > second.revision)
      mismatch(p.id, `peer revision ${p.revision} > leader revision ${second.revision}`);
    if (p.compactRevision > second.compactRevision)
      mismatch(p.id, `peer compact revision ${p.compactRevision} > leader ${second.compactRevision}`);
    if (p.compactRevision === first.compactRevision && p.hash !== first.hash)
      mismatch(p.id, `peer hash ${p.hash} != leader hash ${first.hash} at revision ${first.revision}`);
  }
}

/** The CORRUPT alarm request etcd 3.4 proposes (member 0: the whole cluster). */
export const corruptAlarm = {
  memberID: 0n,
  action: AlarmRequest_AlarmAction.ACTIVATE,
  alarm: AlarmType.CORRUPT,
};
