// Conversions between the two forms of configuration change and their short text form ("v1 l2 r3 u4").
import {
  ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  EntryType,
} from "../../gen/raftpb/raft.js";

/** True for a legacy (V1) ConfChange, false for a ConfChangeV2. */
export function isConfChangeV1(x: ConfChange | ConfChangeV2): x is ConfChange {
  return !("changes" in x);
}

/** The V2 change that carries out the same operation (a V1 change becomes one change, context kept). */
export function asV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if (!isConfChangeV1(cc)) return cc;
  return {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/** The V1 change itself, or undefined for a V2 change. */
export function asV1(cc: ConfChange | ConfChangeV2): ConfChange | undefined {
  return isConfChangeV1(cc) ? cc : undefined;
}

/** The entry type and bytes of a proposed configuration change (V1 stays V1 on the wire). */
export function marshalConfChange(cc: ConfChange | ConfChangeV2): { type: EntryType; data: Buffer } {
  if (isConfChangeV1(cc)) {
    return { type: EntryType.EntryConfChange, data: Buffer.from(ConfChange.encode(cc).finish()) };
  }
  return { type: EntryType.EntryConfChangeV2, data: Buffer.from(ConfChangeV2.encode(cc).finish()) };
}

/**
 * Whether the change uses joint consensus (`ok`: more than one change, or a joint transition asked for
 * explicitly) and whether the joint state is then left automatically (`autoLeave`).
 */
export function enterJointOf(cc: ConfChangeV2): { autoLeave: boolean; ok: boolean } {
  if (cc.transition !== ConfChangeTransition.ConfChangeTransitionAuto || cc.changes.length > 1) {
    switch (cc.transition) {
      case ConfChangeTransition.ConfChangeTransitionAuto:
      case ConfChangeTransition.ConfChangeTransitionJointImplicit:
        return { autoLeave: true, ok: true };
      case ConfChangeTransition.ConfChangeTransitionJointExplicit:
        return { autoLeave: false, ok: true };
      default:
        throw new Error(`unknown transition: ${cc.transition as number}`);
    }
  }
  return { autoLeave: false, ok: false };
}

/** True for the empty V2 change (context aside), which leaves a joint configuration. */
export function leaveJointOf(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length === 0;
}

/**
 * Parses space-separated operations: `vN` make N a voter, `lN` a learner, `rN` remove N, `uN` update N.
 * Throws with etcd's message on bad input.
 */
export function confChangesFromString(s: string): ConfChangeSingle[] {
  const trimmed = s.trim();
  if (trimmed === "") return [];
  const out: ConfChangeSingle[] = [];
  for (const tok of trimmed.split(" ")) {
    if (tok.length < 2) throw new Error(`unknown token ${tok}`);
    let type: ConfChangeType;
    switch (tok[0]) {
      case "v":
        type = ConfChangeType.ConfChangeAddNode;
        break;
      case "l":
        type = ConfChangeType.ConfChangeAddLearnerNode;
        break;
      case "r":
        type = ConfChangeType.ConfChangeRemoveNode;
        break;
      case "u":
        type = ConfChangeType.ConfChangeUpdateNode;
        break;
      default:
        throw new Error(`unknown input: ${tok}`);
    }
    const digits = tok.slice(1);
    const id = /^[0-9]+$/.test(digits) ? BigInt(digits) : undefined;
    if (id === undefined) throw new Error(`strconv.ParseUint: parsing "${digits}": invalid syntax`);
    if (id > 0xffffffffffffffffn)
      throw new Error(`strconv.ParseUint: parsing "${digits}": value out of range`);
    out.push({ type, nodeId: id });
  }
  return out;
}

/** The inverse of confChangesFromString. */
export function confChangesToString(ccs: readonly ConfChangeSingle[]): string {
  return ccs
    .map((cc) => {
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          return `v${cc.nodeId}`;
        case ConfChangeType.ConfChangeAddLearnerNode:
          return `l${cc.nodeId}`;
        case ConfChangeType.ConfChangeRemoveNode:
          return `r${cc.nodeId}`;
        case ConfChangeType.ConfChangeUpdateNode:
          return `u${cc.nodeId}`;
        default:
          return `unknown${cc.nodeId}`;
      }
    })
    .join(" ");
}
