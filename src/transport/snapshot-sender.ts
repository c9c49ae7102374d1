// A merged snapshot to one peer: POST /raft/snapshot with a chunked body made of the length-prefixed
// MsgSnap and then the raw db bytes until the end. The answer (204) comes after the receiver saved
// the db and stepped the message; raft hears the outcome either way.
import type { Message } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import { checkPostAnswer, postHeaders, type TransportContext } from "./context.js";
import { peerUrl, readBody, startRequest } from "./http-util.js";
import { encodeMessageFrame } from "./message-codec.js";
import type { PeerStatus } from "./peer-status.js";
import type { UrlPicker } from "./url-picker.js";

export class SnapshotSendError extends Error {
  override name = "SnapshotSendError";
}

async function* snapshotBody(m: Message, db: AsyncIterable<Buffer>, count: (n: number) => void) {
  const head = encodeMessageFrame(m);
  count(head.length);
  yield head;
  for await (const chunk of db) {
    count(chunk.length);
    yield chunk;
  }
}

/** Sends one snapshot; resolves on 204, rejects otherwise (after telling raft and the status). */
export async function sendSnapshot(
  ctx: TransportContext,
  peer: { id: bigint; picker: UrlPicker; status: PeerStatus; signal: AbortSignal },
  m: Message,
  db: AsyncIterable<Buffer>,
): Promise<void> {
  const start = Date.now();
  const to = formatId(peer.id);
  const base = peer.picker.pick();
  const url = peerUrl(base, "/raft/snapshot");
  const index = m.snapshot?.metadata?.index ?? 0;
  let sent = 0;
  ctx.logger.info({ "snapshot-index": index, "remote-peer-id": to }, "sending database snapshot");
  ctx.metrics.snapshotSendInflights.inc({ To: to });
  let failure: string | undefined;
  let removed = false;
  try {
    const res = await startRequest({
      method: "POST",
      url,
      headers: postHeaders(ctx, "application/octet-stream"),
      body: snapshotBody(m, db, (n) => {
        sent += n;
      }),
      agent: ctx.pipelineAgents.for(url),
      connectTimeoutMs: ctx.timings.dialTimeoutMs,
      signal: peer.signal,
    });
    // the answer body is empty; read it for a bounded time only
    const cutoff = setTimeout(() => res.destroy(), ctx.timings.snapshotAnswerReadMs);
    const body = await readBody(res).finally(() => clearTimeout(cutoff));
    const verdict = checkPostAnswer(res.statusCode ?? 0, body, url.href);
    if (!verdict.ok) {
      failure = verdict.reason;
      removed = verdict.removed;
    }
  } catch (err) {
    failure = (err as Error).message;
  } finally {
    ctx.metrics.snapshotSendInflights.dec({ To: to });
  }
  if (failure !== undefined) {
    ctx.logger.warn(
      { "snapshot-index": index, "remote-peer-id": to, bytes: sent, error: failure },
      "failed to send database snapshot",
    );
    if (removed) ctx.reportRemoved(`${failure} (peer ${to} answered 403)`);
    peer.picker.unreachable(base);
    peer.status.deactivate("sendMsgSnap", "post", failure);
    ctx.raft.reportUnreachable(peer.id);
    ctx.raft.reportSnapshot(peer.id, true);
    ctx.metrics.sentFailures.inc({ To: to });
    ctx.metrics.snapshotSendFailures.inc({ To: to });
    throw new SnapshotSendError(`failed to send snapshot at index ${index} to ${to}: ${failure}`);
  }
  peer.status.activate();
  ctx.raft.reportSnapshot(peer.id, false);
  ctx.logger.info({ "snapshot-index": index, "remote-peer-id": to, bytes: sent }, "sent database snapshot");
  ctx.metrics.sentBytes.inc({ To: to }, sent);
  ctx.metrics.snapshotSend.inc({ To: to });
  ctx.metrics.snapshotSendSeconds.observe({ To: to }, (Date.now() - start) / 1000);
}
