// A kv event's JSON written straight from the store's record: the text JSON.stringify gives for the event
// object (the fields in the order the protocol lists them), without building that object or any string
// first. Every put reaches each catch-all subscription group, so this is on the feed's per-put path.
import { isUtf8 } from "node:buffer";
import type { KeyValue } from "../gen/mvccpb/kv.js";
import { formatId } from "../membership/ids.js";
import type { JsonBytes } from "./json-bytes.js";

/** Bytes as the feed sends them (see toBytes): a string when valid UTF-8, else `{"base64":...}`. */
function writeBytes(w: JsonBytes, b: Uint8Array): void {
  if (isUtf8(b)) w.utf8String(b);
  else {
    w.latin1('{"base64":"');
    w.base64(b);
    w.latin1('"}');
  }
}

/** The KeyValueProps fields of a record, as JSON members (no braces). */
function writeKeyValue(w: JsonBytes, kv: KeyValue): void {
  w.latin1('"key":');
  writeBytes(w, kv.key);
  w.latin1(',"value":');
  writeBytes(w, kv.value);
  w.latin1(',"createRevision":');
  w.number(kv.createRevision);
  w.latin1(',"modRevision":');
  w.number(kv.modRevision);
  w.latin1(',"version":');
  w.number(kv.version);
  w.latin1(',"lease":"');
  w.latin1(kv.lease === 0n ? "0" : formatId(kv.lease));
  w.byte(0x22);
}

/** A kv event: its envelope, the record's fields and, when given, the key's previous version. */
export function writeKvEvent(
  w: JsonBytes,
  at: number,
  member: string,
  revision: number,
  kind: "put" | "delete",
  kv: KeyValue,
  prev?: KeyValue,
): void {
  w.latin1('{"type":"kv","at":');
  w.number(at);
  w.latin1(',"member":"');
  // a member id is hex: nothing to escape
  w.latin1(member);
  w.latin1('","revision":');
  w.number(revision);
  w.latin1(kind === "put" ? ',"kind":"put",' : ',"kind":"delete",');
  writeKeyValue(w, kv);
  if (prev !== undefined) {
    w.latin1(',"prev":{');
    writeKeyValue(w, prev);
    w.byte(0x7d);
  }
  w.byte(0x7d);
}
