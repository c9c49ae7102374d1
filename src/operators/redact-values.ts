// A feed operator that hides the values of keys under some prefixes from every feed client: live key
// changes (and their previous versions) and the initial key snapshots alike. Keys, revisions and
// versions still show, so observers see that a secret changed without seeing it. The store is untouched.
import { map } from "rxjs";
import { fromBytes } from "../feed/bytes.js";
import type { Bytes, FeedEvent, KeyValueProps } from "../feed/protocol.js";
import type { FeedOperator } from "./types.js";

export interface RedactOptions {
  /** Key prefixes whose values are hidden (raw bytes compared, as etcd compares keys). */
  readonly prefixes: readonly (string | Uint8Array)[];
  /** What a hidden value reads as (default "[redacted]"). */
  readonly replacement?: string;
}

export function redactValues(options: RedactOptions): FeedOperator {
  const prefixes = options.prefixes.map((p) => Buffer.from(p));
  const replacement: Bytes = options.replacement ?? "[redacted]";
  const hidden = (key: Bytes) => {
    const raw = fromBytes(key);
    return prefixes.some((p) => raw.length >= p.length && raw.subarray(0, p.length).equals(p));
  };
  const redactKv = (kv: KeyValueProps): KeyValueProps =>
    hidden(kv.key) ? { ...kv, value: replacement } : kv;
  return map((e: FeedEvent): FeedEvent => {
    if (e.type === "kv") {
      if (!hidden(e.key)) return e;
      // a delete's value is empty already; its previous version is hidden as any other
      const value = e.kind === "delete" ? e.value : replacement;
      return e.prev ? { ...e, value, prev: redactKv(e.prev) } : { ...e, value };
    }
    if (e.type === "kv.snapshot") return { ...e, kvs: e.kvs.map(redactKv) };
    return e;
  });
}
