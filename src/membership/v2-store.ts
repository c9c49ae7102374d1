// etcd 3.4's v2 store (etcdserver/api/v2store): the tree that holds membership under /0 and v2 API
// keys under /1, with the same indexes, TTLs and error cases, because its JSON is the `Data` of every
// raft snapshot members exchange. Watchers, events and statistics are not kept (nothing replicated
// depends on them; a receiver keeps its own when the JSON leaves them out).
import * as t from "io-ts";
import { isInteger, isLosslessNumber, parse } from "lossless-json";
import { formatGoTime, GO_ZERO_TIME_NS, GoTimeError, parseGoTime } from "./go-time.js";
import { goQuote } from "./member-json.js";

/** v2error codes of the errors a store operation can end with. */
export const V2ErrorCode = {
  KeyNotFound: 100,
  TestFailed: 101,
  NotFile: 102,
  NotDir: 104,
  NodeExist: 105,
  RootReadOnly: 107,
  DirNotEmpty: 108,
} as const;

const ERROR_TEXT: Record<number, string> = {
  100: "Key not found",
  101: "Compare failed",
  102: "Not a file",
  104: "Not a directory",
  105: "Key already exists",
  107: "Root is read only",
  108: "Directory not empty",
};

/** A failed v2 operation (the v2 API answers it; nothing changed except what etcd also leaves behind). */
export class V2StoreError extends Error {
  constructor(
    readonly errorCode: number,
    readonly detail: string,
    readonly index: number,
  ) {
    super(`${ERROR_TEXT[errorCode] ?? "v2 error"} (${detail}) [${index}]`);
  }
}

/** A snapshot's Data that is not a v2 store document. */
export class V2StoreFormatError extends Error {}

/** One node: a directory when `children` is set, a key otherwise. */
export interface V2Node {
  path: string;
  createdIndex: number;
  modifiedIndex: number;
  /** Unix nanoseconds; GO_ZERO_TIME_NS for a permanent node. */
  expireTime: bigint;
  value: string;
  children: Map<string, V2Node> | undefined;
  parent: V2Node | undefined;
}

/** TTL options of a write: when the node expires (GO_ZERO_TIME_NS: never) and whether it is a refresh. */
export interface TtlOptions {
  expireTime: bigint;
  refresh?: boolean;
}

export const PERMANENT: TtlOptions = { expireTime: GO_ZERO_TIME_NS };

/** Expiry times before this are taken as "no TTL" on create (times that went through JavaScript). */
const MIN_EXPIRE_TIME_NS = parseGoTime("2000-01-01T00:00:00Z");

const isDir = (n: V2Node) => n.children !== undefined;
const isPermanent = (n: V2Node) => n.expireTime === GO_ZERO_TIME_NS;

/** Go's path.Clean of a rooted path. */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** Go's path.Split: everything up to and including the last slash, and the rest. */
function splitPath(p: string): [string, string] {
  const i = p.lastIndexOf("/");
  return [p.slice(0, i + 1), p.slice(i + 1)];
}

const joinPath = (dir: string, name: string) => cleanPath(`${dir}/${name}`);

function newNode(
  path: string,
  index: number,
  parent: V2Node | undefined,
  expireTime: bigint,
  dir: boolean,
): V2Node {
  return {
    path,
    createdIndex: index,
    modifiedIndex: index,
    expireTime,
    value: "",
    children: dir ? new Map() : undefined,
    parent,
  };
}

export class V2Store {
  /** The store's index: one more for every successful write. */
  currentIndex = 0;
  private readonly readOnly = new Set(["/", "/0", "/1"]);
  /** Nodes with a TTL (etcd's ttlKeyHeap). */
  private readonly ttlNodes = new Set<V2Node>();

  private constructor(readonly root: V2Node) {}

  /** A new store with etcd's two namespaces: /0 (membership) and /1 (v2 keys). */
  static fresh(): V2Store {
    const root = newNode("/", 0, undefined, GO_ZERO_TIME_NS, true);
    for (const ns of ["0", "1"]) root.children?.set(ns, newNode(`/${ns}`, 0, root, GO_ZERO_TIME_NS, true));
    return new V2Store(root);
  }

  private error(code: number, cause: string, index = this.currentIndex): V2StoreError {
    return new V2StoreError(code, cause, index);
  }

  private walk(nodePath: string, step: (parent: V2Node, name: string) => V2Node): V2Node {
    const components = nodePath.split("/");
    let curr = this.root;
    for (let i = 1; i < components.length; i++) {
      if (components[i] === "") return curr;
      curr = step(curr, components[i]);
    }
    return curr;
  }

  /** The node at a path, or the store error etcd's internalGet gives. */
  get(nodePath: string): V2Node {
    return this.walk(cleanPath(nodePath), (parent, name) => {
      if (!parent.children) throw this.error(V2ErrorCode.NotDir, parent.path);
      const child = parent.children.get(name);
      if (!child) throw this.error(V2ErrorCode.KeyNotFound, joinPath(parent.path, name));
      return child;
    });
  }

  /** The node at a path, or undefined when it does not exist (other errors still throw). */
  find(nodePath: string): V2Node | undefined {
    try {
      return this.get(nodePath);
    } catch (err) {
      if (err instanceof V2StoreError && err.errorCode === V2ErrorCode.KeyNotFound) return undefined;
      throw err;
    }
  }

  private checkDir = (parent: V2Node, name: string): V2Node => {
    const node = parent.children?.get(name);
    if (node) {
      if (isDir(node)) return node;
      throw this.error(V2ErrorCode.NotDir, node.path);
    }
    const dir = newNode(joinPath(parent.path, name), this.currentIndex + 1, parent, GO_ZERO_TIME_NS, true);
    parent.children?.set(name, dir);
    return dir;
  };

  private internalCreate(
    nodePath: string,
    dir: boolean,
    value: string,
    unique: boolean,
    replace: boolean,
    expireTime: bigint,
  ): V2Node {
    const currIndex = this.currentIndex;
    const nextIndex = currIndex + 1;
    let p = nodePath;
    if (unique) p += `/${String(nextIndex).padStart(20, "0")}`;
    p = cleanPath(p);
    if (this.readOnly.has(p)) throw this.error(V2ErrorCode.RootReadOnly, "/", currIndex);
    const expiry = expireTime < MIN_EXPIRE_TIME_NS ? GO_ZERO_TIME_NS : expireTime;
    const [dirName, nodeName] = splitPath(p);
    // missing directories are created on the way and stay even if the create fails below (as in etcd)
    const d = this.walk(dirName, this.checkDir);
    const existing = d.children?.get(nodeName);
    if (existing) {
      if (!replace) throw this.error(V2ErrorCode.NodeExist, p, currIndex);
      if (isDir(existing)) throw this.error(V2ErrorCode.NotFile, p, currIndex);
      this.remove(existing, false, false);
    }
    const n = newNode(p, nextIndex, d, expiry, dir);
    if (!dir) n.value = value;
    // etcd ignores a failed Add (a name still taken); the index moves on regardless
    if (d.children && !d.children.has(splitPath(n.path)[1])) d.children.set(splitPath(n.path)[1], n);
    if (!isPermanent(n)) this.ttlNodes.add(n);
    this.currentIndex = nextIndex;
    return n;
  }

  create(
    nodePath: string,
    dir: boolean,
    value: string,
    unique: boolean,
    ttl: TtlOptions = PERMANENT,
  ): V2Node {
    return this.internalCreate(nodePath, dir, value, unique, false, ttl.expireTime);
  }

  set(nodePath: string, dir: boolean, value: string, ttl: TtlOptions = PERMANENT): V2Node {
    const prev = this.find(nodePath);
    let v = value;
    if (ttl.refresh) {
      if (!prev) this.get(nodePath);
      v = prev?.value ?? "";
    }
    return this.internalCreate(nodePath, dir, v, false, true, ttl.expireTime);
  }

  update(nodePath: string, newValue: string, ttl: TtlOptions = PERMANENT): V2Node {
    const p = cleanPath(nodePath);
    if (this.readOnly.has(p)) throw this.error(V2ErrorCode.RootReadOnly, "/");
    const nextIndex = this.currentIndex + 1;
    const n = this.get(p);
    if (isDir(n) && newValue.length !== 0) throw this.error(V2ErrorCode.NotFile, p);
    const v = ttl.refresh ? n.value : newValue;
    this.write(n, v, nextIndex);
    this.updateTtl(n, ttl.expireTime);
    this.currentIndex = nextIndex;
    return n;
  }

  compareAndSwap(
    nodePath: string,
    prevValue: string,
    prevIndex: bigint,
    value: string,
    ttl: TtlOptions = PERMANENT,
  ): V2Node {
    const p = cleanPath(nodePath);
    if (this.readOnly.has(p)) throw this.error(V2ErrorCode.RootReadOnly, "/");
    const n = this.get(p);
    if (isDir(n)) throw this.error(V2ErrorCode.NotFile, p);
    this.compare(n, prevValue, prevIndex);
    const v = ttl.refresh ? n.value : value;
    this.currentIndex++;
    this.write(n, v, this.currentIndex);
    this.updateTtl(n, ttl.expireTime);
    return n;
  }

  delete(nodePath: string, dir: boolean, recursive: boolean): void {
    const p = cleanPath(nodePath);
    if (this.readOnly.has(p)) throw this.error(V2ErrorCode.RootReadOnly, "/");
    const n = this.get(p);
    this.remove(n, dir || recursive, recursive);
    this.currentIndex++;
  }

  compareAndDelete(nodePath: string, prevValue: string, prevIndex: bigint): void {
    const p = cleanPath(nodePath);
    const n = this.get(p);
    if (isDir(n)) throw this.error(V2ErrorCode.NotFile, p);
    this.compare(n, prevValue, prevIndex);
    this.currentIndex++;
    this.remove(n, false, false);
  }

  /** Removes every node whose TTL ended at or before `cutoffNs`, earliest first, one index each. */
  deleteExpiredKeys(cutoffNs: bigint): void {
    for (;;) {
      let first: V2Node | undefined;
      for (const n of this.ttlNodes) {
        if (!first || n.expireTime < first.expireTime) first = n;
      }
      if (!first || first.expireTime > cutoffNs) return;
      this.currentIndex++;
      this.ttlNodes.delete(first);
      this.remove(first, true, true);
    }
  }

  hasTtlKeys(): boolean {
    return this.ttlNodes.size > 0;
  }

  /** The listing etcd's Get(path, recursive, sorted) gives of a directory: visible children by path. */
  list(dir: V2Node): V2Node[] {
    if (!dir.children) return [];
    const visible = [...dir.children.values()].filter((c) => {
      const name = splitPath(c.path)[1];
      if (name === "") throw new V2StoreFormatError(`v2 store node without a name under ${dir.path}`);
      return name[0] !== "_";
    });
    return visible.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  private compare(n: V2Node, prevValue: string, prevIndex: bigint): void {
    const indexMatch = prevIndex === 0n || BigInt(n.modifiedIndex) === prevIndex;
    const valueMatch = prevValue === "" || n.value === prevValue;
    if (indexMatch && valueMatch) return;
    const cause = !valueMatch
      ? !indexMatch
        ? `[${prevValue} != ${n.value}] [${prevIndex} != ${n.modifiedIndex}]`
        : `[${prevValue} != ${n.value}]`
      : `[${prevIndex} != ${n.modifiedIndex}]`;
    throw this.error(V2ErrorCode.TestFailed, cause);
  }

  /** A directory's value and index never change through a write (etcd ignores the error). */
  private write(n: V2Node, value: string, index: number): void {
    if (isDir(n)) return;
    n.value = value;
    n.modifiedIndex = index;
  }

  private updateTtl(n: V2Node, expireTime: bigint): void {
    n.expireTime = expireTime;
    if (isPermanent(n)) this.ttlNodes.delete(n);
    else this.ttlNodes.add(n);
  }

  /** Detaches a node only if its parent still holds it under the name in its path (as etcd does). */
  private detach(n: V2Node): boolean {
    const name = splitPath(n.path)[1];
    if (n.parent?.children?.get(name) !== n) return false;
    n.parent.children.delete(name);
    return true;
  }

  private remove(n: V2Node, dir: boolean, recursive: boolean): void {
    if (!n.children) {
      this.detach(n);
      if (!isPermanent(n)) this.ttlNodes.delete(n);
      return;
    }
    if (!dir) throw this.error(V2ErrorCode.NotFile, n.path);
    if (n.children.size !== 0 && !recursive) throw this.error(V2ErrorCode.DirNotEmpty, n.path);
    for (const child of [...n.children.values()]) this.remove(child, true, true);
    if (this.detach(n) && !isPermanent(n)) this.ttlNodes.delete(n);
  }

  /** The store as JSON, etcd's node layout (Go field order, map keys sorted); no watcher hub, no stats. */
  toJson(): string {
    return `{"Root":${nodeJson(this.root)},"CurrentIndex":${this.currentIndex},"CurrentVersion":2}`;
  }

  /**
   * Rebuilds a store from snapshot Data (written by rxetcd or by etcd 3.4, which adds a watcher hub
   * and statistics). As etcd's Recovery, it merges into a fresh store: top-level children of the
   * document replace the fresh /0 and /1.
   */
  static fromJson(text: string): V2Store {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new V2StoreFormatError(`v2 store: malformed JSON (${(err as Error).message})`);
    }
    const top = StoreDoc.decode(doc);
    if (top._tag === "Left") throw new V2StoreFormatError(`v2 store: ${describe(top.left)}`);
    if (!isJsonObject(doc)) throw new V2StoreFormatError("v2 store: not a JSON object");
    const store = V2Store.fresh();
    const { Root, CurrentIndex } = top.right;
    if (CurrentIndex !== undefined && CurrentIndex !== null)
      store.currentIndex = toIndex(CurrentIndex, "CurrentIndex");
    if (Root !== undefined && Root !== null) applyNodeDoc(store.root, Root, "Root");
    store.collectTtlNodes(store.root);
    return store;
  }

  private collectTtlNodes(n: V2Node): void {
    if (!isPermanent(n)) this.ttlNodes.add(n);
    for (const c of n.children?.values() ?? []) this.collectTtlNodes(c);
  }
}

function nodeJson(n: V2Node): string {
  let children = "null";
  if (n.children) {
    const names = [...n.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    children = `{${names.map((k) => `${goQuote(k)}:${nodeJson(n.children!.get(k)!)}`).join(",")}}`;
  }
  return `{"Path":${goQuote(n.path)},"CreatedIndex":${n.createdIndex},"ModifiedIndex":${n.modifiedIndex},"ExpireTime":"${formatGoTime(n.expireTime)}","Value":${goQuote(n.value)},"Children":${children}}`;
}

// The document as Go's json.Unmarshal sees it: any field may be absent (zero value) or null.
interface NodeDoc {
  Path?: string | null;
  CreatedIndex?: unknown;
  ModifiedIndex?: unknown;
  ExpireTime?: string | null;
  Value?: string | null;
  Children?: Record<string, unknown> | null;
}

const NodeDocCodec: t.Type<NodeDoc, NodeDoc, unknown> = t.partial({
  Path: t.union([t.string, t.null]),
  CreatedIndex: t.unknown,
  ModifiedIndex: t.unknown,
  ExpireTime: t.union([t.string, t.null]),
  Value: t.union([t.string, t.null]),
  Children: t.union([t.UnknownRecord, t.null]),
});

const StoreDoc = t.partial({
  Root: t.union([t.unknown, t.null]),
  CurrentIndex: t.unknown,
  CurrentVersion: t.unknown,
  WatcherHub: t.unknown,
  Stats: t.unknown,
});

function describe(errors: t.Errors): string {
  const first = errors[0];
  const path = first?.context
    .map((c) => c.key)
    .filter((k) => k !== "" && !/^\d+$/.test(k))
    .join(".");
  return `invalid document${path ? ` at ${path}` : ""}`;
}

/** A JSON object (lossless-json also parses numbers into objects). */
const isJsonObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !isLosslessNumber(u);

function toIndex(u: unknown, where: string): number {
  if (u === null) return 0;
  if (!isLosslessNumber(u) || !isInteger(u.value))
    throw new V2StoreFormatError(`v2 store: ${where} is not an unsigned integer`);
  const v = BigInt(u.value);
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new V2StoreFormatError(`v2 store: ${where} is out of range`);
  return Number(v);
}

/** Decodes one node document into `target` (fields absent in the document keep their value). */
function applyNodeDoc(target: V2Node, u: unknown, where: string): void {
  const r = NodeDocCodec.decode(u);
  if (r._tag === "Left" || !isJsonObject(u)) throw new V2StoreFormatError(`v2 store: ${where} is not a node`);
  const d = r.right;
  if (d.Path !== undefined && d.Path !== null) target.path = d.Path;
  if (d.CreatedIndex !== undefined) target.createdIndex = toIndex(d.CreatedIndex, `${where}.CreatedIndex`);
  if (d.ModifiedIndex !== undefined)
    target.modifiedIndex = toIndex(d.ModifiedIndex, `${where}.ModifiedIndex`);
  if (d.ExpireTime !== undefined && d.ExpireTime !== null) {
    try {
      target.expireTime = parseGoTime(d.ExpireTime);
    } catch (err) {
      if (err instanceof GoTimeError)
        throw new V2StoreFormatError(`v2 store: ${where}.ExpireTime: ${err.message}`);
      throw err;
    }
  }
  if (d.Value !== undefined && d.Value !== null) target.value = d.Value;
  if (d.Children === null) target.children = undefined;
  else if (d.Children !== undefined) {
    target.children ??= new Map();
    for (const [name, child] of Object.entries(d.Children)) {
      if (child === null) throw new V2StoreFormatError(`v2 store: ${where}.Children.${name} is null`);
      const node = newNode("", 0, target, GO_ZERO_TIME_NS, false);
      applyNodeDoc(node, child, `${where}.Children.${name}`);
      target.children.set(name, node);
    }
  }
}
