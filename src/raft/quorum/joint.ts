// Two majority configurations that must both agree: the configuration used during joint consensus.
// Outside a joint change the outgoing half is empty, and the pair behaves like the incoming majority.
import { MajorityConfig } from "./majority.js";
import { type AckedIndexer, VoteResult } from "./types.js";

export class JointConfig {
  incoming: MajorityConfig;
  outgoing: MajorityConfig;

  constructor(incoming = new MajorityConfig(), outgoing = new MajorityConfig()) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  /** "(1 2 3)" or, while joint, "(1 2 3)&&(1)". */
  toString(): string {
    if (this.outgoing.ids.size > 0) return `${this.incoming.toString()}&&${this.outgoing.toString()}`;
    return this.incoming.toString();
  }

  /** Every voter of either half (a new set). */
  ids(): Set<bigint> {
    const s = new Set(this.incoming.ids);
    for (const id of this.outgoing.ids) s.add(id);
    return s;
  }

  isJoint(): boolean {
    return this.outgoing.ids.size > 0;
  }

  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l);
  }

  /** The largest index committed in both halves. */
  committedIndex(l: AckedIndexer): number {
    return Math.min(this.incoming.committedIndex(l), this.outgoing.committedIndex(l));
  }

  /** Won only when both halves won; lost as soon as either half lost. */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }

  clone(): JointConfig {
    return new JointConfig(this.incoming.clone(), this.outgoing.clone());
  }
}
