// Runs etcd's quorum data-driven files (committed index and vote results of majority and joint configs),
// with the same cross-checks as etcd's harness: any disagreement is printed into the output.
import { join } from "node:path";
import { JointConfig } from "../../src/raft/quorum/joint.js";
import { MajorityConfig } from "../../src/raft/quorum/majority.js";
import {
  type AckedIndexer,
  indexToString,
  mapAckIndexer,
  voteResultName,
} from "../../src/raft/quorum/types.js";
import { type TestCase, walkDataDriven } from "../datadriven/parser.js";

const dir = join(import.meta.dirname, "testdata", "quorum");

// The largest index that a quorum acknowledged, by counting for every acknowledged index the voters at or
// above it (the "alternative computation" of etcd's harness).
function alternativeCommittedIndex(c: MajorityConfig, l: AckedIndexer): number {
  if (c.ids.size === 0) return Number.POSITIVE_INFINITY;
  const acked: number[] = [];
  for (const id of c.ids) {
    const idx = l.ackedIndex(id);
    if (idx !== undefined) acked.push(idx);
  }
  const quorum = Math.floor(c.ids.size / 2) + 1;
  let best = 0;
  for (const candidate of acked) {
    const holders = acked.filter((x) => x >= candidate).length;
    if (holders >= quorum && candidate > best) best = candidate;
  }
  return best;
}

function parseId(s: string): bigint {
  if (!/^\d+$/.test(s.trim())) throw new Error(`bad id ${s}`);
  return BigInt(s.trim());
}

function runQuorumCase(tc: TestCase): string {
  let joint = false;
  const ids: bigint[] = [];
  const idsj: bigint[] = [];
  // `_` is no information (kept as 0 here and removed from the lookup below, as etcd's harness does).
  const idxs: number[] = [];
  // 0 = no vote, 1 = no, 2 = yes.
  const votes: number[] = [];
  for (const arg of tc.args) {
    for (const v of arg.vals) {
      switch (arg.key) {
        case "cfg":
          ids.push(parseId(v));
          break;
        case "cfgj":
          joint = true;
          if (v === "zero") {
            if (arg.vals.length !== 1) throw new Error("cannot mix 'zero' into configuration");
          } else {
            idsj.push(parseId(v));
          }
          break;
        case "idx":
          if (v === "_") idxs.push(0);
          else {
            const n = Number(v.trim());
            if (!Number.isInteger(n) || n === 0) throw new Error(`bad idx ${v}`);
            idxs.push(n);
          }
          break;
        case "votes":
          if (v === "y") votes.push(2);
          else if (v === "n") votes.push(1);
          else if (v === "_") votes.push(0);
          else throw new Error(`unknown vote: ${v}`);
          break;
        default:
          throw new Error(`unknown arg ${arg.key}`);
      }
    }
  }
  const c = new MajorityConfig(ids);
  const cj = new MajorityConfig(idsj);

  // Assigns the values in order to the voters of ids then idsj, each voter once; zeros are dropped.
  const makeLookup = (vals: number[]): Map<bigint, number> => {
    const m = new Map<bigint, number>();
    let p = 0;
    for (const id of [...ids, ...idsj]) {
      if (m.has(id)) continue;
      if (p < vals.length) m.set(id, vals[p++]);
    }
    for (const [id, v] of m) if (v === 0) m.delete(id);
    return m;
  };

  const input = tc.cmd === "vote" ? votes : idxs;
  const voters = new JointConfig(c, cj).ids();
  if (voters.size !== input.length) {
    const goMap = `map[${[...voters]
      .sort((a, b) => (a < b ? -1 : 1))
      .map((id) => `${id}:{}`)
      .join(" ")}]`;
    return `error: mismatched input (explicit or _) for voters ${goMap}: [${input.map(indexToString).join(" ")}]`;
  }

  let out = "";
  switch (tc.cmd) {
    case "committed": {
      const l = mapAckIndexer(makeLookup(idxs));
      if (!joint) {
        const idx = c.committedIndex(l);
        out += c.describe(l);
        const alt = alternativeCommittedIndex(c, l);
        if (alt !== idx) out += `${indexToString(alt)} <-- via alternative computation\n`;
        const zeroJoint = new JointConfig(c, new MajorityConfig()).committedIndex(l);
        if (zeroJoint !== idx) out += `${indexToString(zeroJoint)} <-- via zero-joint quorum\n`;
        const selfJoint = new JointConfig(c, c).committedIndex(l);
        if (selfJoint !== idx) out += `${indexToString(selfJoint)} <-- via self-joint quorum\n`;
        // Lowering a voter that is already below the committed index must not change it.
        const overlay = (id: bigint, value: number): AckedIndexer => {
          const m = new Map<bigint, number>();
          for (const other of c.ids) {
            if (other === id) m.set(other, value);
            else {
              const x = l.ackedIndex(other);
              if (x !== undefined) m.set(other, x);
            }
          }
          return mapAckIndexer(m);
        };
        for (const id of c.slice()) {
          const own = l.ackedIndex(id) ?? 0;
          if (idx > own && own > 0) {
            const lowered = c.committedIndex(overlay(id, own - 1));
            if (lowered !== idx) out += `${indexToString(lowered)} <-- overlaying ${id}->${own}`;
            const zeroed = c.committedIndex(overlay(id, 0));
            if (zeroed !== idx) out += `${indexToString(zeroed)} <-- overlaying ${id}->0`;
          }
        }
        out += `${indexToString(idx)}\n`;
      } else {
        const cc = new JointConfig(c, cj);
        out += cc.describe(l);
        const idx = cc.committedIndex(l);
        const swapped = new JointConfig(cj, c).committedIndex(l);
        if (swapped !== idx) out += `${indexToString(swapped)} <-- via symmetry\n`;
        out += `${indexToString(idx)}\n`;
      }
      break;
    }
    case "vote": {
      const l = new Map<bigint, boolean>();
      for (const [id, v] of makeLookup(votes)) l.set(id, v !== 1);
      if (!joint) {
        out += `${voteResultName(c.voteResult(l))}\n`;
      } else {
        const r = new JointConfig(c, cj).voteResult(l);
        const swapped = new JointConfig(cj, c).voteResult(l);
        if (swapped !== r) out += `${voteResultName(swapped)} <-- via symmetry\n`;
        out += `${voteResultName(r)}\n`;
      }
      break;
    }
    default:
      throw new Error(`unknown command: ${tc.cmd}`);
  }
  return out;
}

walkDataDriven(dir, () => runQuorumCase);
