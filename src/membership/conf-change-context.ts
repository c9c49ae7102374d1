// The Context bytes of membership conf changes, exactly as etcd 3.4 writes them (§7.4): every member
// decodes the contexts of every other member, and raft compares nothing but term and index.
import { encodeMemberJson, type MemberJson } from "./member-json.js";

const bytes = (m: MemberJson) => Buffer.from(encodeMemberJson(m), "utf8");

/** A bootstrap entry's context: the whole member as the initial cluster describes it. */
export function bootstrapContext(m: { id: bigint; peerUrls: readonly string[]; name: string }): Buffer {
  return bytes({ id: m.id, peerURLs: [...m.peerUrls], name: m.name });
}

/** MemberAdd: `{"id","peerURLs"}` (+ `"isLearner":true`), the URLs sorted as etcd sorts them. */
export function memberAddContext(m: { id: bigint; peerUrls: readonly string[]; isLearner: boolean }): Buffer {
  return bytes({ id: m.id, peerURLs: [...m.peerUrls].sort(), isLearner: m.isLearner });
}

/** MemberPromote: `{"id":N,"peerURLs":null,"isPromote":true}` (an AddNode change). */
export function memberPromoteContext(id: bigint): Buffer {
  return bytes({ id, peerURLs: null, isPromote: true });
}

/** MemberUpdate: the URLs as the client sent them; none at all is Go's nil slice, `null`. */
export function memberUpdateContext(id: bigint, peerUrls: readonly string[]): Buffer {
  return bytes({ id, peerURLs: peerUrls.length === 0 ? null : [...peerUrls] });
}
