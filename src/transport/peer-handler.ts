// Everything served on the peer port, routed as etcd's peer mux routes it: the raft endpoints
// (pipeline, streams, snapshot, probing) and the member services (/members, /members/promote/,
// /members/hashkv, /leases, /leases/internal, /version). Status codes, bodies and headers are etcd's.
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import * as t from "io-ts";
import { isInteger, isLosslessNumber, parse as parseLossless } from "lossless-json";
import { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../gen/etcdserverpb/rpc.js";
import { LeaseInternalRequest, LeaseInternalResponse } from "../gen/leasepb/lease.js";
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { formatId, parseId } from "../membership/ids.js";
import { encodeMemberListJson } from "../membership/member-json.js";
import type { TransportContext } from "./context.js";
import { FrameError } from "./frames.js";
import { httpError, jsonError, methodNotAllowed, notFound, readBody } from "./http-util.js";
import { decodeMessageFrame } from "./message-codec.js";
import type { Peer } from "./peer.js";
import { decodeMessage } from "./raft-wire.js";
import { PeerServiceError, type PeerServices } from "./services.js";
import type { StreamType } from "./stream-writer.js";
import { checkCompatibility, header, SERVER_VERSION } from "./versions.js";

export interface PeerHandlerDeps {
  readonly ctx: TransportContext;
  readonly services: PeerServices;
  peer(id: bigint): Peer | undefined;
  addRemote(id: bigint, urls: string[]): void;
}

/** How long the lease handlers wait for the applied index to catch up (etcd's applyTimeout). */
const LEASE_APPLY_WAIT_MS = 1000;
const LEASE_HTTP_TIMEOUT = "waiting for node to catch up its applied index has timed out";
const REMOVED_SENDER = "cannot process message from removed member";

/** Member ids in paths and headers: any hex digits below 2^64 (Go's strconv base 16). */
function parseHexId(text: string): bigint | undefined {
  const digits = text.replace(/^0+(?=.)/, "");
  return parseId(digits);
}

/** A decimal uint64 as Go's strconv.ParseUint(s, 10, 64) reads it. */
function parseDecimalId(text: string): bigint | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const v = BigInt(text);
  return v < 1n << 64n ? v : undefined;
}

/** Go's path.Dir and path.Base for the clean paths the mux hands out. */
function pathDir(p: string): string {
  const i = p.lastIndexOf("/");
  const dir = p.slice(0, i + 1).replace(/\/+$/, "");
  return dir === "" ? "/" : dir;
}
function pathBase(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

export function createPeerHandler(
  deps: PeerHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { ctx, services } = deps;
  const clusterHex = () => formatId(ctx.clusterId);

  /** etcd's version and cluster id check; false when it answered (or dropped the connection). */
  function compatible(req: IncomingMessage, res: ServerResponse): boolean {
    const verdict = checkCompatibility(req.headers, ctx.clusterId);
    if (verdict === "ok") return true;
    const from = header(req.headers, "X-Server-From");
    if (verdict === "malformed version") {
      ctx.logger.warn(
        { "remote-peer-server-name": from },
        "malformed version header; dropping the connection",
      );
      req.socket.destroy();
      return false;
    }
    ctx.logger.warn(
      {
        "local-member-id": formatId(ctx.localId),
        "local-member-cluster-id": clusterHex(),
        "remote-peer-server-name": from,
        "remote-peer-server-version": header(req.headers, "X-Server-Version"),
        "remote-peer-cluster-id": header(req.headers, "X-Etcd-Cluster-ID"),
        error: verdict,
      },
      verdict === "cluster ID mismatch"
        ? "request cluster ID mismatch"
        : "failed to check version compatibility",
    );
    httpError(res, 412, verdict);
    return false;
  }

  function addRemoteFromRequest(req: IncomingMessage): void {
    const from = parseHexId(header(req.headers, "X-Server-From"));
    const urls = header(req.headers, "X-PeerURLs");
    if (from !== undefined && urls !== "") deps.addRemote(from, urls.split(","));
  }

  // POST /raft ---------------------------------------------------------------------------------
  async function pipeline(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") return methodNotAllowed(res, "POST");
    res.setHeader("X-Etcd-Cluster-ID", clusterHex());
    if (!compatible(req, res)) return;
    addRemoteFromRequest(req);
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      ctx.logger.warn({ error: (err as Error).message }, "failed to read Raft message");
      ctx.metrics.receivedFailures.inc({ From: req.socket.remoteAddress ?? "" });
      return httpError(res, 400, "error reading raft message");
    }
    let m: Message;
    try {
      m = decodeMessage(body);
    } catch (err) {
      ctx.logger.warn({ error: (err as Error).message }, "failed to unmarshal Raft message");
      ctx.metrics.receivedFailures.inc({ From: req.socket.remoteAddress ?? "" });
      return httpError(res, 400, "error unmarshalling raft message");
    }
    ctx.metrics.receivedBytes.inc({ From: formatId(m.from) }, body.length);
    if (services.isRemoved(m.from)) {
      // etcd 3.4.23 means to answer 403 here (its error type slips and it sends 500); 403 is what
      // makes the removed member stop, which is the intent
      ctx.logger.warn({ "removed-member-id": formatId(m.from) }, "rejected Raft message from removed member");
      return jsonError(res, 403, REMOVED_SENDER);
    }
    try {
      ctx.deliver(m);
    } catch (err) {
      ctx.logger.warn({ error: (err as Error).message }, "failed to process Raft message");
      httpError(res, 500, "error processing raft message");
      req.socket.destroy();
      return;
    }
    res.writeHead(204);
    res.end();
  }

  // GET /raft/stream/<type>/<from> -------------------------------------------------------------
  function stream(req: IncomingMessage, res: ServerResponse, path: string) {
    if (req.method !== "GET") return methodNotAllowed(res, "GET");
    res.setHeader("X-Server-Version", SERVER_VERSION);
    res.setHeader("X-Etcd-Cluster-ID", clusterHex());
    if (!compatible(req, res)) return;
    let type: StreamType;
    switch (pathDir(path)) {
      case "/raft/stream/msgapp":
        type = "msgapp";
        break;
      case "/raft/stream/message":
        type = "message";
        break;
      default:
        return httpError(res, 404, "invalid path");
    }
    const fromText = pathBase(path);
    const from = parseHexId(fromText);
    if (from === undefined) {
      ctx.logger.warn({ path: fromText }, "failed to parse path into ID");
      return httpError(res, 404, "invalid from");
    }
    if (services.isRemoved(from)) {
      ctx.logger.warn(
        { "remote-peer-id-from": formatId(from) },
        "rejected stream from remote peer because it was removed",
      );
      return httpError(res, 410, "removed member");
    }
    const peer = deps.peer(from);
    if (!peer) {
      const urls = header(req.headers, "X-PeerURLs");
      if (urls !== "") deps.addRemote(from, urls.split(","));
      ctx.logger.warn(
        { "remote-peer-id-from": formatId(from), "cluster-id": clusterHex() },
        "failed to find remote peer in cluster",
      );
      return httpError(res, 404, "error sender not found");
    }
    const to = header(req.headers, "X-Raft-To");
    if (to !== formatId(ctx.localId)) {
      ctx.logger.warn(
        { "remote-peer-id-header": to, "remote-peer-id-from": formatId(from) },
        "ignored streaming request; ID mismatch",
      );
      return httpError(res, 412, "to field mismatch");
    }
    res.writeHead(200);
    res.flushHeaders();
    req.socket.setNoDelay(true);
    peer.attachOutgoing(type, res);
  }

  // POST /raft/snapshot ------------------------------------------------------------------------
  async function snapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = Date.now();
    if (req.method !== "POST") {
      ctx.metrics.snapshotReceiveFailures.inc({ From: "UNKNOWN_SNAPSHOT_SENDER" });
      return methodNotAllowed(res, "POST");
    }
    res.setHeader("X-Etcd-Cluster-ID", clusterHex());
    if (!compatible(req, res)) {
      ctx.metrics.snapshotReceiveFailures.inc({ From: "UNKNOWN_SNAPSHOT_SENDER" });
      return;
    }
    addRemoteFromRequest(req);

    const body = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let m: Message;
    let rest: Buffer;
    try {
      [m, rest] = await readSnapshotHead(body);
    } catch (err) {
      const msg = `failed to decode raft message (${(err as Error).message})`;
      ctx.logger.warn({ error: msg }, "failed to decode Raft message");
      ctx.metrics.receivedFailures.inc({ From: req.socket.remoteAddress ?? "" });
      ctx.metrics.snapshotReceiveFailures.inc({ From: "0" });
      return httpError(res, 400, msg);
    }
    const from = formatId(m.from);
    if (m.type !== MessageType.MsgSnap) {
      ctx.logger.warn(
        { "remote-snapshot-sender-id": from, "message-type": MessageType[m.type] },
        "unexpected Raft message type",
      );
      ctx.metrics.snapshotReceiveFailures.inc({ From: from });
      return httpError(res, 400, "wrong raft message type");
    }
    if (services.isRemoved(m.from)) {
      ctx.logger.warn({ "removed-member-id": from }, "rejected snapshot from removed member");
      ctx.metrics.snapshotReceiveFailures.inc({ From: from });
      return jsonError(res, 403, REMOVED_SENDER);
    }
    const index = m.snapshot?.metadata?.index ?? 0;
    ctx.metrics.snapshotReceiveInflights.inc({ From: from });
    try {
      ctx.logger.info(
        { "remote-snapshot-sender-id": from, "incoming-snapshot-index": index },
        "receiving database snapshot",
      );
      let dbFile: string;
      let size: number;
      try {
        [dbFile, size] = await saveDb(services.snapshotDir(), index, rest, body);
      } catch (err) {
        const msg = `failed to save KV snapshot (${(err as Error).message})`;
        ctx.logger.warn(
          { "remote-snapshot-sender-id": from, "incoming-snapshot-index": index, error: msg },
          "failed to save incoming database snapshot",
        );
        ctx.metrics.snapshotReceiveFailures.inc({ From: from });
        return httpError(res, 500, msg);
      }
      ctx.metrics.receivedBytes.inc({ From: from }, size);
      ctx.logger.info(
        {
          "remote-snapshot-sender-id": from,
          "incoming-snapshot-index": index,
          "incoming-snapshot-size-bytes": size,
          path: dbFile,
        },
        "received and saved database snapshot",
      );
      try {
        await services.receiveSnapshot(m, dbFile);
      } catch (err) {
        ctx.metrics.snapshotReceiveFailures.inc({ From: from });
        if (err instanceof PeerServiceError) return httpError(res, err.status, err.message);
        const msg = `failed to process raft message (${(err as Error).message})`;
        ctx.logger.warn({ "remote-snapshot-sender-id": from, error: msg }, "failed to process Raft message");
        return httpError(res, 500, msg);
      }
      res.writeHead(204);
      res.end();
      ctx.metrics.snapshotReceive.inc({ From: from });
      ctx.metrics.snapshotReceiveSeconds.observe({ From: from }, (Date.now() - start) / 1000);
    } finally {
      ctx.metrics.snapshotReceiveInflights.dec({ From: from });
    }
  }

  // GET /raft/probing (any method, as the probing library answers) ------------------------------
  function probing(_req: IncomingMessage, res: ServerResponse): void {
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.writeHead(200);
    res.end(`{"OK":true,"Now":"${new Date().toISOString()}"}\n`);
  }

  // GET /members -----------------------------------------------------------------------------
  function members(req: IncomingMessage, res: ServerResponse) {
    if (req.method !== "GET") return methodNotAllowed(res, "GET");
    res.setHeader("X-Etcd-Cluster-ID", formatId(services.clusterId()));
    res.setHeader("Content-Type", "application/json");
    res.writeHead(200);
    res.end(`${encodeMemberListJson(services.members())}\n`);
  }

  // POST /members/promote/<decimal id> ---------------------------------------------------------
  async function promote(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== "POST") return methodNotAllowed(res, "POST");
    res.setHeader("X-Etcd-Cluster-ID", formatId(services.clusterId()));
    const idText = path.slice("/members/promote/".length);
    const id = parseDecimalId(idText);
    if (id === undefined) return httpError(res, 404, `member ${idText} not found in cluster`);
    try {
      const list = await services.promoteMember(id);
      res.setHeader("Content-Type", "application/json");
      res.writeHead(200);
      res.end(`${encodeMemberListJson(list)}\n`);
    } catch (err) {
      ctx.logger.warn(
        { "member-id": formatId(id), error: (err as Error).message },
        "failed to promote a member",
      );
      if (err instanceof PeerServiceError) {
        if (err.status === 404 || err.status === 412) return httpError(res, err.status, err.message);
        return jsonError(res, err.status, err.message);
      }
      jsonError(res, 500, "Internal Server Error");
    }
  }

  // GET /members/hashkv with a JSON body ---------------------------------------------------------
  async function hashKV(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET") return methodNotAllowed(res, "GET");
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return httpError(res, 400, "error reading body");
    }
    const revision = decodeHashKVRequest(body);
    if (revision === undefined) {
      ctx.logger.warn("failed to unmarshal request");
      return httpError(res, 400, "error unmarshalling request");
    }
    try {
      const r = await services.hashKV(revision);
      res.setHeader("X-Etcd-Cluster-ID", formatId(services.clusterId()));
      res.setHeader("Content-Type", "application/json");
      res.writeHead(200);
      res.end(encodeHashKVResponse(r));
    } catch (err) {
      ctx.logger.warn(
        { "requested-revision": revision, error: (err as Error).message },
        "failed to get hashKV",
      );
      httpError(res, err instanceof PeerServiceError ? err.status : 400, (err as Error).message);
    }
  }

  // POST /leases and /leases/internal ----------------------------------------------------------
  async function leases(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== "POST") return httpError(res, 405, "Method Not Allowed");
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return httpError(res, 400, "error reading body");
    }
    const answer = (bytes: Uint8Array) => {
      res.setHeader("Content-Type", "application/protobuf");
      res.writeHead(200);
      res.end(Buffer.from(bytes));
    };
    const refuse = (err: unknown) => {
      if (err instanceof PeerServiceError) return httpError(res, err.status, err.message);
      httpError(res, 400, (err as Error).message);
    };
    if (path === "/leases") {
      let lreq: LeaseKeepAliveRequest;
      try {
        lreq = LeaseKeepAliveRequest.decode(body);
      } catch {
        return httpError(res, 400, "error unmarshalling request");
      }
      if (!(await services.waitAppliedCaughtUp(LEASE_APPLY_WAIT_MS)))
        return httpError(res, 408, LEASE_HTTP_TIMEOUT);
      try {
        const ttl = await services.leaseRenew(lreq.ID);
        answer(LeaseKeepAliveResponse.encode({ header: undefined, ID: lreq.ID, TTL: ttl }).finish());
      } catch (err) {
        refuse(err);
      }
      return;
    }
    let ireq: LeaseInternalRequest;
    try {
      ireq = LeaseInternalRequest.decode(body);
    } catch {
      return httpError(res, 400, "error unmarshalling request");
    }
    if (!(await services.waitAppliedCaughtUp(LEASE_APPLY_WAIT_MS)))
      return httpError(res, 408, LEASE_HTTP_TIMEOUT);
    const id = ireq.LeaseTimeToLiveRequest?.ID ?? 0n;
    const keys = ireq.LeaseTimeToLiveRequest?.keys ?? false;
    try {
      const r = await services.leaseTimeToLive(id, keys);
      answer(
        LeaseInternalResponse.encode({
          LeaseTimeToLiveResponse: {
            header: { clusterId: 0n, memberId: 0n, revision: 0, raftTerm: 0 },
            ID: id,
            TTL: r.ttl,
            grantedTTL: r.grantedTtl,
            keys: keys ? r.keys : [],
          },
        }).finish(),
      );
    } catch (err) {
      refuse(err);
    }
  }

  // GET /version -----------------------------------------------------------------------------
  function version(req: IncomingMessage, res: ServerResponse) {
    if (req.method !== "GET") return methodNotAllowed(res, "GET");
    const v = services.version();
    res.setHeader("Content-Type", "application/json");
    res.writeHead(200);
    res.end(JSON.stringify({ etcdserver: v.etcdserver, etcdcluster: v.etcdcluster }));
  }

  const route = (req: IncomingMessage, res: ServerResponse): void | Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/raft") return pipeline(req, res);
    if (path === "/raft/snapshot") return snapshot(req, res);
    if (path === "/raft/probing") return probing(req, res);
    if (path.startsWith("/raft/stream/")) return stream(req, res, path);
    if (path === "/members") return members(req, res);
    if (path.startsWith("/members/promote/")) return promote(req, res, path);
    if (path === "/members/hashkv") return hashKV(req, res);
    if (path === "/leases" || path === "/leases/internal") return leases(req, res, path);
    if (path === "/version") return version(req, res);
    notFound(res);
  };

  return (req, res) => {
    try {
      const done = route(req, res);
      if (done) {
        done.catch((err: unknown) => {
          ctx.logger.error({ err, path: req.url }, "peer request failed");
          if (!res.headersSent) httpError(res, 500, "Internal Server Error");
          else res.destroy();
        });
      }
    } catch (err) {
      ctx.logger.error({ err, path: req.url }, "peer request failed");
      if (!res.headersSent) httpError(res, 500, "Internal Server Error");
      else res.destroy();
    }
  };
}

/** Reads the length-prefixed MsgSnap at the start of a snapshot body; returns it and the bytes after it. */
async function readSnapshotHead(body: AsyncIterator<Buffer>): Promise<[Message, Buffer]> {
  const chunks: Buffer[] = [];
  let buffered = 0;
  let need = 8;
  for (;;) {
    if (buffered >= need) {
      const buf = Buffer.concat(chunks, buffered);
      chunks.length = 0;
      chunks.push(buf);
      const r = decodeMessageFrame(buf, Number.MAX_SAFE_INTEGER);
      if (r.done) return [r.value, buf.subarray(r.size)];
      need = r.need;
    }
    const next = await body.next();
    if (next.done) throw new FrameError(buffered === 0 ? "EOF" : "unexpected EOF");
    chunks.push(next.value);
    buffered += next.value.length;
  }
}

/** Writes the db to a temporary file, syncs it and renames it to <%016x index>.snap.db. */
async function saveDb(
  dir: string,
  index: number,
  first: Buffer,
  rest: AsyncIterator<Buffer>,
): Promise<[string, number]> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `tmp${randomBytes(6).toString("hex")}`);
  const target = join(dir, `${index.toString(16).padStart(16, "0")}.snap.db`);
  const file = await open(tmp, "w");
  let size = 0;
  try {
    try {
      if (first.length > 0) {
        await file.write(first);
        size += first.length;
      }
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        await file.write(next.value);
        size += next.value.length;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    const exists = await stat(target).then(
      () => true,
      () => false,
    );
    if (exists) await unlink(tmp);
    else await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  return [target, size];
}

const Revision = new t.Type<number, unknown, unknown>(
  "int64",
  (u): u is number => typeof u === "number",
  (u, c) => {
    if (u === null) return t.success(0);
    if (!isLosslessNumber(u) || !isInteger(u.value)) return t.failure(u, c);
    const v = Number(u.value);
    return Number.isSafeInteger(v) ? t.success(v) : t.failure(u, c);
  },
  (v) => v,
);
const HashKVRequestJson = t.partial({ revision: Revision });

/** `{"revision":R}` (Go's JSON of HashKVRequest, omit-empty); undefined when it is not one. */
export function decodeHashKVRequest(body: Buffer): number | undefined {
  let u: unknown;
  try {
    u = parseLossless(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (u === null) return 0;
  if (typeof u !== "object" || Array.isArray(u)) return undefined;
  const r = HashKVRequestJson.decode(u);
  return r._tag === "Right" ? (r.right.revision ?? 0) : undefined;
}

/** HashKVResponse as Go's encoding/json writes it: header always, zero fields omitted. */
export function encodeHashKVResponse(r: { revision: number; hash: number; compactRevision: number }): string {
  const parts = [`"header":${r.revision !== 0 ? `{"revision":${r.revision}}` : "{}"}`];
  if (r.hash !== 0) parts.push(`"hash":${r.hash}`);
  if (r.compactRevision !== 0) parts.push(`"compact_revision":${r.compactRevision}`);
  return `{${parts.join(",")}}`;
}
