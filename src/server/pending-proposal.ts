// One of this member's proposals waiting for its apply: how to make it (again, after a lost leader), what
// a refusal by raft fails it with, and the raft term it was last made in. One object carries all of it,
// where a closure per path (make, refuse, make again) cost a put five small objects that lived until its
// answer.
import { ProposalDroppedError } from "../raft/raft.js";
import { Errors } from "../rpctypes/errors.js";

/** Hears that raft refused a proposal (see RaftNode.propose). */
export interface ProposalListener {
  dropped(err: unknown): void;
}

/** What a pending proposal needs of its member. */
export interface ProposalHost {
  /** Fails the proposal's wait with `err` (when it still waits). */
  fail(id: bigint, err: unknown): void;
}

export abstract class PendingProposal implements ProposalListener {
  /** The raft term it was (last) made in (see UnansweredProposals). */
  term = 0;

  constructor(
    protected readonly host: ProposalHost,
    readonly id: bigint,
  ) {}

  /** Hands the proposal to raft once. */
  protected abstract send(): void;

  /** Makes the proposal (again); a refusal, now or when raft steps it, fails its wait. */
  attempt(): void {
    try {
      this.send();
    } catch (err) {
      this.dropped(err);
    }
  }

  dropped(err: unknown): void {
    this.host.fail(this.id, err instanceof ProposalDroppedError ? Errors.NoLeader : err);
  }
}

/** Proposes entry data through a RaftNode (a client write, a v2 request). */
export class DataProposal extends PendingProposal {
  constructor(
    host: ProposalHost,
    id: bigint,
    private readonly raft: { propose(data: Buffer, listener: ProposalListener): void },
    private readonly data: Buffer,
  ) {
    super(host, id);
  }

  protected send(): void {
    this.raft.propose(this.data, this);
  }
}

/** Any other proposal: `send` makes it (a membership change). */
export class ProposalOf extends PendingProposal {
  constructor(
    host: ProposalHost,
    id: bigint,
    private readonly make: () => void,
  ) {
    super(host, id);
  }

  protected send(): void {
    this.make();
  }
}
