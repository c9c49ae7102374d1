import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";

/**
 * The requests this member proposed, found again by the very bytes it handed raft. An entry whose data
 * is one of those buffers is this member's own proposal, still in memory: its apply takes the request
 * the bytes were written from instead of decoding them a second time. Entries from elsewhere (a
 * follower's log, a restart's replay, a snapshot) carry other buffers and are decoded as before.
 * Weak: a proposal raft dropped, or one whose entry was overwritten, is forgotten with its bytes.
 */
export class ProposedRequests {
  private readonly byData = new WeakMap<Uint8Array, InternalRaftRequest>();

  /** `decoded` must be exactly what decoding `data` gives (see encodeProposal). */
  remember(data: Uint8Array, decoded: InternalRaftRequest): void {
    this.byData.set(data, decoded);
  }

  /** The request proposed as `data`, once: a second apply of the same entry decodes it. */
  take(data: Uint8Array): InternalRaftRequest | undefined {
    const decoded = this.byData.get(data);
    if (decoded !== undefined) this.byData.delete(data);
    return decoded;
  }
}
