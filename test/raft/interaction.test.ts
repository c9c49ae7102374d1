// Runs etcd 3.4.23's raft interaction scenarios (test/raft/testdata/raft/*.txt) against RawNode and
// MemoryStorage. The harness mirrors etcd's rafttest InteractionEnv: nodes with ids 1..n, a shared
// queue of in-flight messages, Ready handling that persists, applies (an "appender" state machine
// whose snapshots are kept in a history) and queues messages, and a logger that writes into the
// output. Log lines are dropped from both sides before comparing (see the test data README).
import { dirname, join } from "node:path";
import { describe } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeV2,
  type ConfState,
  EntryType,
  type HardState,
  type Message,
  type Snapshot,
} from "../../src/gen/raftpb/raft.js";
import { confChangesFromString } from "../../src/raft/confchange/conv.js";
import { describeEntries, describeMessage, describeReady } from "../../src/raft/describe.js";
import { type RaftLogger, RaftPanicError } from "../../src/raft/logger.js";
import type { Config } from "../../src/raft/raft.js";
import { SeededRand } from "../../src/raft/rand.js";
import { RawNode } from "../../src/raft/rawnode.js";
import { MemoryStorage, type Storage } from "../../src/raft/storage.js";
import { describeProgressMap } from "../../src/raft/tracker/progress.js";
import { emptyBuffer, emptyConfState, isEmptyHardState, isEmptySnap, noLimit } from "../../src/raft/util.js";
import { argVals, type TestCase } from "../datadriven/parser.js";
import { stripLogLines, walkDataDriven } from "../datadriven/runner.js";

const levelNames = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "NONE"] as const;
const levelNone = levelNames.length - 1;

/** Collects harness output and log lines at or above a level, like etcd's RedirectLogger. */
class RedirectLogger implements RaftLogger {
  out = "";
  level = 0;

  private print(level: number, msg: string): void {
    if (this.level <= level) this.out += `${levelNames[level]} ${msg}${msg.endsWith("\n") ? "" : "\n"}`;
  }
  debug(msg: string): void {
    this.print(0, msg);
  }
  info(msg: string): void {
    this.print(1, msg);
  }
  warning(msg: string): void {
    this.print(2, msg);
  }
  error(msg: string): void {
    this.print(3, msg);
  }
  panic(msg: string): never {
    this.print(4, msg);
    throw new RaftPanicError(msg);
  }
}

/** MemoryStorage whose snapshot() is the newest state recorded in the node's history. */
class HistoryStorage implements Storage {
  constructor(
    readonly mem: MemoryStorage,
    private readonly latest: () => Snapshot,
  ) {}
  initialState() {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxSize: number) {
    return this.mem.entries(lo, hi, maxSize);
  }
  term(i: number) {
    return this.mem.term(i);
  }
  lastIndex() {
    return this.mem.lastIndex();
  }
  firstIndex() {
    return this.mem.firstIndex();
  }
  snapshot() {
    return this.latest();
  }
}

interface EnvNode {
  rn: RawNode;
  storage: HistoryStorage;
  config: Config;
  history: Snapshot[];
}

class InteractionEnv {
  readonly nodes: EnvNode[] = [];
  messages: Message[] = [];
  readonly output = new RedirectLogger();

  handle(tc: TestCase): string {
    this.output.out = "";
    let err: string | undefined;
    try {
      switch (tc.cmd) {
        case "_breakpoint":
          break;
        case "add-nodes":
          this.handleAddNodes(tc);
          break;
        case "campaign":
          this.nodes[firstAsIdx(tc)].rn.campaign();
          break;
        case "compact":
          this.nodes[firstAsIdx(tc)].storage.mem.compact(Number(tc.args[1].key));
          this.raftLog(firstAsIdx(tc));
          break;
        case "deliver-msgs":
          this.handleDeliverMsgs(tc);
          break;
        case "process-ready":
          this.processReady(firstAsIdx(tc));
          break;
        case "log-level":
          this.logLevel(tc.args[0].key);
          break;
        case "raft-log":
          this.raftLog(firstAsIdx(tc));
          break;
        case "stabilize":
          this.stabilize(ints(tc).map((id) => id - 1));
          break;
        case "status":
          this.output.out += describeProgressMap(this.nodes[firstAsIdx(tc)].rn.status().progress);
          break;
        case "tick-heartbeat": {
          const n = this.nodes[firstAsIdx(tc)];
          for (let k = 0; k < n.config.heartbeatTick; k++) n.rn.tick();
          break;
        }
        case "propose":
          if (tc.args.length !== 2 || tc.args[1].vals.length > 0)
            throw new Error("expected exactly one key with no vals");
          this.nodes[firstAsIdx(tc)].rn.propose(Buffer.from(tc.args[1].key));
          break;
        case "propose-conf-change":
          this.handleProposeConfChange(tc);
          break;
        default:
          throw new Error("unknown command");
      }
    } catch (e) {
      if (e instanceof RaftPanicError) throw e;
      err = (e as Error).message;
      this.output.out += err;
    }
    if (this.output.out.length === 0) return "ok";
    if (this.output.level === levelNone) return err ?? "ok (quiet)";
    return this.output.out;
  }

  private logLevel(name: string): void {
    const i = levelNames.findIndex((l) => l.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new Error(`log levels must be either of [${levelNames.join(" ")}]`);
    this.output.level = i;
  }

  private handleAddNodes(tc: TestCase): void {
    const n = Number(tc.args[0].key);
    const cs: ConfState = emptyConfState();
    let index = 0;
    let data: Buffer = emptyBuffer;
    for (const arg of tc.args.slice(1)) {
      for (const v of arg.vals) {
        if (arg.key === "voters") cs.voters.push(BigInt(v));
        else if (arg.key === "learners") cs.learners.push(BigInt(v));
        else if (arg.key === "index") index = Number(v);
        else if (arg.key === "content") data = Buffer.from(v);
      }
    }
    const bootstrap = index !== 0 || cs.voters.length > 0 || cs.learners.length > 0 || data.length > 0;
    for (let k = 0; k < n; k++) {
      const id = BigInt(this.nodes.length + 1);
      const snap: Snapshot = { data, metadata: { index, term: 0, confState: cs } };
      const mem = new MemoryStorage();
      const history: Snapshot[] = [snap];
      const storage = new HistoryStorage(mem, () => history[history.length - 1]);
      if (bootstrap) {
        if (index <= 1) throw new Error("index must be specified as > 1 due to bootstrap");
        snap.metadata!.term = 1;
        mem.applySnapshot(snap);
        if (mem.firstIndex() !== index + 1) {
          throw new Error(`failed to establish first index ${index + 1}; got ${mem.firstIndex()}`);
        }
      }
      const config: Config = {
        id,
        applied: index,
        electionTick: 3,
        heartbeatTick: 1,
        storage,
        maxSizePerMsg: noLimit,
        maxInflightMsgs: 2 ** 31 - 1,
        logger: this.output,
        rand: new SeededRand(Number(id)),
      };
      this.nodes.push({ rn: new RawNode(config), storage, config, history });
    }
  }

  private processReady(idx: number): void {
    const node = this.nodes[idx];
    const rn = node.rn;
    const mem = node.storage.mem;
    const rd = rn.ready();
    this.output.out += describeReady(rd);
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState))
      mem.setHardState(rd.hardState as HardState);
    mem.append(rd.entries);
    if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) mem.applySnapshot(rd.snapshot);
    for (const ent of rd.committedEntries) {
      let update: Buffer;
      let cs: ConfState | undefined;
      if (ent.type === EntryType.EntryConfChange) {
        const cc = ConfChange.decode(ent.data);
        update = cc.context;
        cs = rn.applyConfChange(cc);
      } else if (ent.type === EntryType.EntryConfChangeV2) {
        const cc = ConfChangeV2.decode(ent.data);
        cs = rn.applyConfChange(cc);
        update = cc.context;
      } else {
        update = ent.data;
      }
      // The "appender" state machine: each applied command appends its bytes to the state.
      const last = node.history[node.history.length - 1];
      node.history.push({
        data: Buffer.concat([last.data, update]),
        metadata: { index: ent.index, term: ent.term, confState: cs ?? last.metadata!.confState },
      });
    }
    for (const m of rd.messages) this.messages.push(m);
    rn.advance(rd);
  }

  private raftLog(idx: number): void {
    const mem = this.nodes[idx].storage.mem;
    const fi = mem.firstIndex();
    const li = mem.lastIndex();
    if (li < fi) {
      this.output.out += `log is empty: first index=${fi}, last index=${li}`;
      return;
    }
    this.output.out += describeEntries(mem.entries(fi, li + 1, noLimit));
  }

  private handleDeliverMsgs(tc: TestCase): void {
    const rs: { id: bigint; drop: boolean }[] = [];
    for (const arg of tc.args) {
      if (arg.vals.length === 0) rs.push({ id: BigInt(arg.key), drop: false });
      if (arg.key === "drop") {
        for (const v of arg.vals) {
          const id = BigInt(v);
          if (rs.some((r) => r.id === id)) throw new Error(`can't both deliver and drop msgs to ${id}`);
          rs.push({ id, drop: true });
        }
      }
    }
    if (this.deliverMsgs(rs) === 0) this.output.out += "no messages\n";
  }

  private deliverMsgs(rs: { id: bigint; drop: boolean }[]): number {
    let n = 0;
    for (const r of rs) {
      const [msgs, rest] = splitMsgs(this.messages, r.id);
      this.messages = rest;
      n += msgs.length;
      for (const m of msgs) {
        if (r.drop) this.output.out += "dropped: ";
        this.output.out += `${describeMessage(m)}\n`;
        if (r.drop) continue;
        try {
          this.nodes[Number(m.to) - 1].rn.step(m);
        } catch (e) {
          if (e instanceof RaftPanicError) throw e;
          this.output.out += (e as Error).message;
        }
      }
    }
    return n;
  }

  private withIndent(f: () => void): void {
    const orig = this.output.out;
    this.output.out = "";
    try {
      f();
    } finally {
      const inner = this.output.out;
      let indented = "";
      if (inner.length > 0) {
        const lines = inner.split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        for (const l of lines) indented += `  ${l}\n`;
      }
      this.output.out = orig + indented;
    }
  }

  private stabilize(idxs: number[]): void {
    const nodes = idxs.length === 0 ? this.nodes : idxs.map((i) => this.nodes[i]);
    for (;;) {
      let done = true;
      for (const node of nodes) {
        if (node.rn.hasReady()) {
          done = false;
          const idx = Number(node.rn.status().id) - 1;
          this.output.out += `> ${idx + 1} handling Ready\n`;
          this.withIndent(() => this.processReady(idx));
        }
      }
      for (const node of nodes) {
        const id = node.rn.status().id;
        if (splitMsgs(this.messages, id)[0].length > 0) {
          this.output.out += `> ${id} receiving messages\n`;
          this.withIndent(() => this.deliverMsgs([{ id, drop: false }]));
          done = false;
        }
      }
      if (done) return;
    }
  }

  private handleProposeConfChange(tc: TestCase): void {
    const idx = firstAsIdx(tc);
    let v1 = false;
    let transition = ConfChangeTransition.ConfChangeTransitionAuto;
    for (const arg of tc.args.slice(1)) {
      for (const val of arg.vals) {
        if (arg.key === "v1") {
          if (val !== "true" && val !== "false") throw new Error(`invalid syntax: ${val}`);
          v1 = val === "true";
        } else if (arg.key === "transition") {
          if (val === "auto") transition = ConfChangeTransition.ConfChangeTransitionAuto;
          else if (val === "implicit") transition = ConfChangeTransition.ConfChangeTransitionJointImplicit;
          else if (val === "explicit") transition = ConfChangeTransition.ConfChangeTransitionJointExplicit;
          else throw new Error(`unknown transition ${val}`);
        } else {
          throw new Error(`unknown command ${arg.key}`);
        }
      }
    }
    const ccs: ConfChangeSingle[] = confChangesFromString(tc.input);
    const rn = this.nodes[idx].rn;
    if (v1) {
      if (ccs.length > 1 || transition !== ConfChangeTransition.ConfChangeTransitionAuto) {
        throw new Error("v1 conf change can only have one operation and no transition");
      }
      rn.proposeConfChange({ id: 0n, type: ccs[0].type, nodeId: ccs[0].nodeId, context: emptyBuffer });
    } else {
      rn.proposeConfChange({ transition, changes: ccs, context: emptyBuffer });
    }
  }
}

function firstAsIdx(tc: TestCase): number {
  return Number(tc.args[0].key) - 1;
}

function ints(tc: TestCase): number[] {
  return tc.args.filter((a) => a.vals.length === 0).map((a) => Number(a.key));
}

function splitMsgs(msgs: readonly Message[], to: bigint): [Message[], Message[]] {
  const toMsgs: Message[] = [];
  const rest: Message[] = [];
  for (const m of msgs) (m.to === to ? toMsgs : rest).push(m);
  return [toMsgs, rest];
}

// Files that do not pass yet, with what is wrong (empty when all pass).
export const knownFailures: Record<string, string> = {};

const dir = join(dirname(fileURLToPath(import.meta.url)), "testdata", "raft");

function register(normalize: (s: string) => string): void {
  walkDataDriven(
    dir,
    () => {
      const env = new InteractionEnv();
      return (tc) => env.handle(tc);
    },
    (path) => {
      const todo = knownFailures[path.slice(path.lastIndexOf("/") + 1)];
      return { normalize, ...(todo !== undefined ? { todo } : {}) };
    },
  );
}

// The comparison the test data README asks for: log lines dropped from both sides.
describe("raft interaction scenarios (log lines stripped)", () => register(stripLogLines));
// Stricter: the log lines (etcd's texts) must match too.
describe("raft interaction scenarios (exact, with log lines)", () => register((s) => s));

// argVals is part of the parser's API; referenced so the import list documents what the harness may use.
void argVals;
