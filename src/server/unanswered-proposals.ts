/**
 * This member's proposals that have no answer yet, with the raft term each was (last) proposed in and how to
 * propose it again.
 *
 * A proposal can be lost without a word: a follower forwards it to a leader that dies, steps down or is handing
 * leadership over (raft drops proposals then), and nobody tells the follower. etcd's clients then wait out their
 * deadline, and the etcd3 client's circuit breaker takes the member out for five seconds more after three such
 * errors. Raft tells us when a loss is certain: once this member has applied the first entry of a new leader's
 * term, every entry that leader kept from earlier terms has been applied before it, so a proposal from an
 * earlier term still waiting was not kept. After a grace period (for a forwarded message still on its way) it is
 * proposed again, to the new leader, and its client only sees the delay.
 */
/** A proposal as this list keeps it: the term it was (last) made in, and how to make it again. */
export interface Reproposable {
  term: number;
  attempt(): void;
}

export class UnansweredProposals {
  private readonly proposals = new Map<bigint, Reproposable>();
  /** Proposals made again, since start (a metric for operators and tests). */
  reproposed = 0;

  /** The caller makes the proposal now (in `proposal.term`); this list again if it is found lost. */
  add(id: bigint, proposal: Reproposable): void {
    this.proposals.set(id, proposal);
  }

  /** The proposal was answered (applied, refused or timed out). */
  delete(id: bigint): void {
    this.proposals.delete(id);
  }

  /** The proposal was made again in `term` (it had waited for a leader). */
  retag(id: bigint, term: number): void {
    const p = this.proposals.get(id);
    if (p) p.term = term;
  }

  /**
   * Proposes again, as of `term`, every proposal made in a term before `lostBefore`; returns how many.
   * `currentTerm` may be later than `lostBefore` if leadership moved again meanwhile.
   */
  reproposeFromTermsBefore(lostBefore: number, currentTerm: number): number {
    let n = 0;
    for (const p of this.proposals.values()) {
      if (p.term >= lostBefore) continue;
      p.term = currentTerm;
      p.attempt();
      n++;
    }
    this.reproposed += n;
    return n;
  }

  get size(): number {
    return this.proposals.size;
  }
}
