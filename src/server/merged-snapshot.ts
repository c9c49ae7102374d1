// The snapshot a leader sends a follower that is too far behind, as etcd sends it: raft's MsgSnap with
// this member's applied index, that entry's term and the current configuration, the membership as the
// snapshot's data, then the backend as an etcd bbolt file. The applied index and the backend copy are
// taken between two apply batches, so the file is exactly the state at that index.
import { type Message, Snapshot } from "../gen/raftpb/raft.js";
import type { Transport } from "../transport/transport.js";
import type { ServerCore } from "./server-core.js";

export interface MergedSnapshotDeps {
  core: ServerCore;
  transport: Transport;
  /** The backend as an etcd bbolt file, read from one consistent view taken when called. */
  exportBackend(): AsyncIterable<Buffer>;
}

export async function sendMergedSnapshot(d: MergedSnapshotDeps, m: Message): Promise<void> {
  const { core } = d;
  const { msg, db } = await core.exclusive(async () => {
    const index = core.appliedIndex.index;
    const snapshot = Snapshot.fromPartial({
      data: core.cluster.toSnapshotData(),
      metadata: { index, term: core.raft.storage.term(index), confState: core.raft.confState },
    });
    return { msg: { ...m, snapshot }, db: d.exportBackend() };
  });
  core.log.info(
    { to: m.to.toString(16), "snapshot-index": msg.snapshot.metadata?.index },
    "sending merged snapshot",
  );
  await d.transport.sendSnapshot(m.to, msg, db);
  core.log.info({ to: m.to.toString(16) }, "sent merged snapshot");
}
