// etcd's JSON form of a member: the body of a peer's `/members` answer, the context of a membership
// conf change and the value of a `members` bucket entry. Ids are full uint64 decimal numbers, which
// JSON.parse would round above 2^53, so documents are read losslessly and written by hand in Go's
// field order and escaping (every member must produce byte-identical contexts).
import * as t from "io-ts";
import { isInteger, isLosslessNumber, type LosslessNumber, parse } from "lossless-json";

/** A member as etcd 3.4 writes it to JSON (membership.Member, plus the promote flag of a context). */
export interface MemberJson {
  id: bigint;
  /** `null` is a distinct value in a promote context (etcd writes `"peerURLs":null`). */
  peerURLs: string[] | null;
  isLearner?: boolean;
  name?: string;
  clientURLs?: string[];
  isPromote?: boolean;
}

/** Go's encoding/json string escaping (HTML-safe: <, > and & are escaped too). */
export function goQuote(s: string): string {
  return JSON.stringify(s)
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replace(/\\[bf]/g, (e) => (e === "\\b" ? "\\u0008" : "\\u000c"));
}

const quoteList = (l: readonly string[]) => `[${l.map(goQuote).join(",")}]`;

/** The raft part of a member (v2 store `raftAttributes`): peer URLs (`null` for Go's nil) and the learner flag. */
export interface RaftAttributesJson {
  peerURLs: string[] | null;
  isLearner?: boolean;
}

/** The published part of a member (v2 store `attributes`, the value of a publish request). */
export interface AttributesJson {
  name?: string;
  clientURLs?: string[] | null;
}

export function encodeRaftAttributesJson(a: RaftAttributesJson): string {
  return `{"peerURLs":${a.peerURLs === null ? "null" : quoteList(a.peerURLs)}${a.isLearner ? ',"isLearner":true' : ""}}`;
}

/** Both fields are omitted when empty, so a member without them is `{}`. */
export function encodeAttributesJson(a: AttributesJson): string {
  const parts: string[] = [];
  if (a.name) parts.push(`"name":${goQuote(a.name)}`);
  if (a.clientURLs && a.clientURLs.length > 0) parts.push(`"clientURLs":${quoteList(a.clientURLs)}`);
  return `{${parts.join(",")}}`;
}

/** One member in etcd's key order: id, peerURLs, isLearner, name, clientURLs (omitempty), isPromote. */
export function encodeMemberJson(m: MemberJson): string {
  let out = `{"id":${BigInt.asUintN(64, m.id).toString(10)},"peerURLs":${m.peerURLs === null ? "null" : quoteList(m.peerURLs)}`;
  if (m.isLearner) out += ',"isLearner":true';
  if (m.name) out += `,"name":${goQuote(m.name)}`;
  if (m.clientURLs && m.clientURLs.length > 0) out += `,"clientURLs":${quoteList(m.clientURLs)}`;
  if (m.isPromote) out += ',"isPromote":true';
  return `${out}}`;
}

/** A `/members` answer: the members sorted by id, as a JSON array. */
export function encodeMemberListJson(members: readonly MemberJson[]): string {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return `[${sorted.map(encodeMemberJson).join(",")}]`;
}

/** A uint64 read losslessly: a LosslessNumber holding a non-negative integer below 2^64. */
const Uint64 = new t.Type<bigint, LosslessNumber, unknown>(
  "uint64",
  (u): u is bigint => typeof u === "bigint",
  (u, c) => {
    if (!isLosslessNumber(u) || !isInteger(u.value)) return t.failure(u, c, "not an integer");
    const v = BigInt(u.value);
    return v < 0n || v >= 1n << 64n ? t.failure(u, c, "out of the uint64 range") : t.success(v);
  },
  (v) => ({ value: v.toString(10) }) as LosslessNumber,
);

const StringList = t.array(t.string);

const MemberJsonCodec = t.intersection([
  t.type({ id: t.union([Uint64, t.undefined]) }),
  t.partial({
    // absent or null: Go's nil slice
    peerURLs: t.union([StringList, t.null]),
    isLearner: t.boolean,
    name: t.string,
    clientURLs: t.union([StringList, t.null]),
    isPromote: t.boolean,
  }),
]);

export class MemberJsonError extends Error {}

function parseLossless(text: string, what: string): unknown {
  try {
    return parse(text);
  } catch (err) {
    throw new MemberJsonError(`${what}: malformed JSON (${(err as Error).message})`);
  }
}

function fromCodec(u: unknown, what: string): MemberJson {
  const r = MemberJsonCodec.decode(u);
  if (r._tag === "Left") {
    const first = r.left[0];
    // keys of the intersection's parts ("0", "1") are not fields
    const path = (first?.context ?? [])
      .filter((c, i, all) => c.key !== "" && !(all[i - 1]?.type instanceof t.IntersectionType))
      .map((c) => c.key)
      .join(".");
    throw new MemberJsonError(`${what}: invalid member${path ? ` field ${path}` : ""}`);
  }
  const v = r.right;
  return {
    // absent: Go's zero value
    id: v.id ?? 0n,
    peerURLs: v.peerURLs ?? null,
    ...(v.isLearner !== undefined ? { isLearner: v.isLearner } : {}),
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(v.clientURLs ? { clientURLs: v.clientURLs } : {}),
    ...(v.isPromote !== undefined ? { isPromote: v.isPromote } : {}),
  };
}

const RaftAttributesCodec = t.partial({
  peerURLs: t.union([StringList, t.null]),
  isLearner: t.union([t.boolean, t.null]),
});

const AttributesCodec = t.partial({
  name: t.union([t.string, t.null]),
  clientURLs: t.union([StringList, t.null]),
});

function decodeWith<A>(codec: t.Decoder<unknown, A>, text: string, what: string): A {
  const r = codec.decode(parseLossless(text, what));
  if (r._tag === "Left") {
    const field = r.left[0]?.context[1]?.key;
    throw new MemberJsonError(`${what}: invalid document${field ? ` field ${field}` : ""}`);
  }
  return r.right;
}

/** A `raftAttributes` value; absent or null fields are Go's zero values, as json.Unmarshal leaves them. */
export function decodeRaftAttributesJson(text: string, what = "raftAttributes"): RaftAttributesJson {
  const v = decodeWith(RaftAttributesCodec, text, what);
  return { peerURLs: v.peerURLs ?? null, ...(v.isLearner ? { isLearner: true } : {}) };
}

/** An `attributes` value (also the value of a publish request). */
export function decodeAttributesJson(text: string, what = "attributes"): AttributesJson {
  const v = decodeWith(AttributesCodec, text, what);
  return {
    ...(v.name ? { name: v.name } : {}),
    ...(v.clientURLs ? { clientURLs: v.clientURLs } : {}),
  };
}

/** One member document (a conf change context or a `members` bucket value). */
export function decodeMemberJson(text: string, what = "member"): MemberJson {
  return fromCodec(parseLossless(text, what), what);
}

/** A `/members` answer: a JSON array of members. */
export function decodeMemberListJson(text: string, what = "member list"): MemberJson[] {
  const u = parseLossless(text, what);
  if (!Array.isArray(u)) throw new MemberJsonError(`${what}: expected a JSON array`);
  return u.map((m, i) => fromCodec(m, `${what}[${i}]`));
}
