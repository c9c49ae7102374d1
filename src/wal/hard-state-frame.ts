// A hard state's WAL frame written in one pass: the protobuf encoding (byte for byte what the generated
// HardState.encode gives) goes straight into the frame's buffer. The generated encoder turns each of
// the three numbers into BigInts twice to check and write it and grows a writer from a few bytes; a
// follower seals a hard state with every append it acknowledges.
import { HardState } from "../gen/raftpb/raft.js";
import { closeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "./frame.js";
import { varintLength, writeVarint } from "./varint.js";

/** Field tags (field number << 3 | wire type) of raftpb.HardState. */
const TERM_TAG = 0x08;
const VOTE_TAG = 0x10;
const COMMIT_TAG = 0x18;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const UINT64_END = 1n << 64n;

/** A uint64 above 2^53 (a member id) as its 28 low bits in four groups and the rest as a number. */
function bigVarintLength(value: bigint): number {
  return 4 + varintLength(Number(value >> 28n));
}

function writeBigVarint(out: Buffer, at: number, value: bigint): number {
  let low = Number(value & 0xfffffffn);
  let i = at;
  for (let k = 0; k < 4; k++) {
    out[i++] = (low & 0x7f) | 0x80;
    low >>>= 7;
  }
  return writeVarint(out, i, Number(value >> 28n));
}

const plain = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** The WAL frame of `hardState` and its protobuf bytes (a view into the frame). */
export function encodeHardStateFrame(hardState: HardState): {
  readonly proto: Buffer;
  readonly frame: Buffer;
} {
  const { term, vote, commit } = hardState;
  // anything else (a bad number is an encoder error) takes the generated path
  if (!plain(term) || !plain(commit) || vote < 0n || vote >= UINT64_END) {
    const proto = Buffer.from(HardState.encode(hardState).finish());
    return { proto, frame: encodeFrame(FrameKind.hardState, proto) };
  }
  const bigVote = vote > MAX_SAFE;
  let size = 0;
  if (term !== 0) size += 1 + varintLength(term);
  if (vote !== 0n) size += 1 + (bigVote ? bigVarintLength(vote) : varintLength(Number(vote)));
  if (commit !== 0) size += 1 + varintLength(commit);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
  let at = FRAME_HEADER_BYTES;
  if (term !== 0) {
    frame[at++] = TERM_TAG;
    at = writeVarint(frame, at, term);
  }
  if (vote !== 0n) {
    frame[at++] = VOTE_TAG;
    at = bigVote ? writeBigVarint(frame, at, vote) : writeVarint(frame, at, Number(vote));
  }
  if (commit !== 0) {
    frame[at++] = COMMIT_TAG;
    at = writeVarint(frame, at, commit);
  }
  closeFrame(frame, FrameKind.hardState);
  return { proto: frame.subarray(FRAME_HEADER_BYTES, at), frame };
}
