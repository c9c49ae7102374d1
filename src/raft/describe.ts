// Text forms of raft values, exactly as etcd 3.4's raft package prints them (the data-driven test
// files and the logs use these).
import {
  ConfChange,
  ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";
import { asV2, confChangesToString } from "./confchange/conv.js";
import type { ReadState } from "./read_only.js";
import { type StateType, stateTypeName } from "./state.js";
import { isEmptyHardState, isEmptySnap } from "./util.js";

/** Formats an entry's payload. */
export type EntryFormatter = (data: Buffer) => string;

export interface SoftState {
  lead: bigint;
  raftState: StateType;
}

/** The parts of a Ready that describeReady prints. */
export interface DescribableReady {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

const hexDigits = "0123456789abcdef";

function isPrintable(cp: number): boolean {
  if (cp < 0x20 || cp === 0x7f) return false;
  if (cp >= 0x80 && cp < 0xa0) return false;
  if (cp === 0xad || (cp >= 0xd800 && cp < 0xe000) || cp === 0xfffd) return false;
  return true;
}

/** Decodes one UTF-8 sequence at b[i]; returns [codePoint, length] or undefined when invalid. */
function decodeUtf8(b: Buffer, i: number): [number, number] | undefined {
  const c = b[i];
  let need: number;
  let cp: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1;
    cp = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    cp = c & 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return undefined;
  }
  if (i + need > b.length - 1) return undefined;
  for (let k = 1; k <= need; k++) {
    const cc = b[i + k];
    if ((cc & 0xc0) !== 0x80) return undefined;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
  return [cp, need + 1];
}

/** Go's %q of a byte slice: a double-quoted string with Go escapes. */
export function goQuote(b: Buffer): string {
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      switch (c) {
        case 0x22:
          out += '\\"';
          continue;
        case 0x5c:
          out += "\\\\";
          continue;
        case 0x07:
          out += "\\a";
          continue;
        case 0x08:
          out += "\\b";
          continue;
        case 0x0c:
          out += "\\f";
          continue;
        case 0x0a:
          out += "\\n";
          continue;
        case 0x0d:
          out += "\\r";
          continue;
        case 0x09:
          out += "\\t";
          continue;
        case 0x0b:
          out += "\\v";
          continue;
      }
      if (c < 0x20 || c === 0x7f) out += `\\x${hexDigits[c >> 4]}${hexDigits[c & 15]}`;
      else out += String.fromCharCode(c);
      continue;
    }
    const dec = decodeUtf8(b, i);
    if (dec === undefined) {
      out += `\\x${hexDigits[c >> 4]}${hexDigits[c & 15]}`;
      i++;
      continue;
    }
    const [cp, len] = dec;
    if (isPrintable(cp)) out += String.fromCodePoint(cp);
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\U${cp.toString(16).padStart(8, "0")}`;
    i += len;
  }
  return `${out}"`;
}

/** The default entry formatter: Go's %q of the payload. */
export const defaultEntryFormatter: EntryFormatter = goQuote;

function formatConfChangeEntry(e: Entry): string {
  try {
    if (e.type === EntryType.EntryConfChange) {
      return confChangesToString(asV2(ConfChange.decode(e.data)).changes);
    }
    return confChangesToString(ConfChangeV2.decode(e.data).changes);
  } catch (err) {
    return (err as Error).message;
  }
}

export function describeEntry(e: Entry, f: EntryFormatter = defaultEntryFormatter): string {
  let formatted: string;
  if (e.type === EntryType.EntryNormal) formatted = f(e.data);
  else formatted = formatConfChangeEntry(e);
  if (formatted !== "") formatted = ` ${formatted}`;
  return `${e.term}/${e.index} ${EntryType[e.type]}${formatted}`;
}

export function describeEntries(ents: readonly Entry[], f: EntryFormatter = defaultEntryFormatter): string {
  let s = "";
  for (const e of ents) s += `${describeEntry(e, f)}\n`;
  return s;
}

function goIdList(ids: readonly bigint[]): string {
  return `[${ids.map((id) => id.toString(10)).join(" ")}]`;
}

export function describeConfState(cs: ConfState): string {
  return (
    `Voters:${goIdList(cs.voters)} VotersOutgoing:${goIdList(cs.votersOutgoing)} ` +
    `Learners:${goIdList(cs.learners)} LearnersNext:${goIdList(cs.learnersNext)} AutoLeave:${cs.autoLeave}`
  );
}

export function describeSnapshot(s: Snapshot): string {
  const md = s.metadata ?? { index: 0, term: 0, confState: undefined };
  const cs = md.confState ?? {
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  return `Index:${md.index} Term:${md.term} ConfState:${describeConfState(cs)}`;
}

export function describeHardState(hs: HardState): string {
  let s = `Term:${hs.term}`;
  if (hs.vote !== 0n) s += ` Vote:${hs.vote.toString(10)}`;
  return `${s} Commit:${hs.commit}`;
}

export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead.toString(10)} State:${stateTypeName(ss.raftState)}`;
}

function describeReadStates(rss: readonly ReadState[]): string {
  const parts = rss.map((rs) => `{${rs.index} [${Array.from(rs.requestCtx).join(" ")}]}`);
  return `[${parts.join(" ")}]`;
}

export function describeMessage(m: Message, f: EntryFormatter = defaultEntryFormatter): string {
  let s = `${m.from.toString(16)}->${m.to.toString(16)} ${MessageType[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0) {
    s += " Entries:[";
    for (let k = 0; k < m.entries.length; k++) {
      if (k !== 0) s += ", ";
      s += describeEntry(m.entries[k], f);
    }
    s += "]";
  }
  if (m.snapshot !== undefined && !isEmptySnap(m.snapshot)) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

export function describeReady(rd: DescribableReady, f: EntryFormatter = defaultEntryFormatter): string {
  let s = "";
  if (rd.softState !== undefined) s += `${describeSoftState(rd.softState)}\n`;
  if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
    s += `HardState ${describeHardState(rd.hardState)}\n`;
  }
  if (rd.readStates.length > 0) s += `ReadStates ${describeReadStates(rd.readStates)}\n`;
  if (rd.entries.length > 0) s += `Entries:\n${describeEntries(rd.entries, f)}`;
  if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot))
    s += `Snapshot ${describeSnapshot(rd.snapshot)}\n`;
  if (rd.committedEntries.length > 0) s += `CommittedEntries:\n${describeEntries(rd.committedEntries, f)}`;
  if (rd.messages.length > 0) {
    s += "Messages:\n";
    for (const m of rd.messages) s += `${describeMessage(m, f)}\n`;
  }
  if (s.length > 0) return `Ready MustSync=${rd.mustSync}:\n${s}`;
  return "<empty Ready>";
}
