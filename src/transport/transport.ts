// The peer transport, wire-compatible with etcd 3.4's rafthttp: raft messages to and from every
// member over two long-lived streams per direction (message, msgappv2) with a pipeline of POSTs as
// fallback, merged snapshots over POST /raft/snapshot, and the member services of the peer port.
// Incoming raft messages are one Observable; a peer telling us we were removed is another.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type Observable, Subject } from "rxjs";
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import { coalesceAppends } from "./coalesce-appends.js";
import {
  ETCD_TIMINGS,
  type RaftStatusReporter,
  type TransportContext,
  type TransportTimings,
} from "./context.js";
import { Agents, type PeerTls } from "./http-util.js";
import { TransportMetrics } from "./metrics.js";
import { Peer, Remote } from "./peer.js";
import { createPeerHandler } from "./peer-handler.js";
import type { PeerServices } from "./services.js";

export type { RaftStatusReporter, TransportTimings } from "./context.js";
export type { PeerTls } from "./http-util.js";
export { PeerServiceError, type PeerServices } from "./services.js";

export interface TransportOptions {
  localId: bigint;
  clusterId: bigint;
  /** This member's advertised peer URLs (sent as X-PeerURLs). */
  localPeerUrls: string[];
  electionTimeoutMs: number;
  raft: RaftStatusReporter;
  services: PeerServices;
  logger: Logger;
  /** Where the etcd_network_* metrics are published. */
  registry?: Registry;
  /** For dialing https peers. */
  tls?: PeerTls;
  /** The clock of `activeSince` (ms since the epoch). */
  now?: () => number;
  /** etcd's timings by default (derived from electionTimeoutMs); tests shorten them. */
  timings?: Partial<TransportTimings>;
}

function checkUrls(urls: readonly string[]): string | undefined {
  if (urls.length === 0) return "no URLs";
  for (const u of urls) {
    try {
      const p = new URL(u);
      if (p.protocol !== "http:" && p.protocol !== "https:") return `unsupported scheme in ${u}`;
    } catch {
      return `invalid URL ${u}`;
    }
  }
  return undefined;
}

export class Transport {
  /** Every raft message from peers (streams and pipeline), in arrival order per stream. */
  readonly received$: Observable<Message>;
  /** A peer told us this member was removed (410 on a stream dial, 403 on a POST): stop the server. */
  readonly removed$: Observable<string>;
  /** Everything on the peer port. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;

  private readonly ctx: TransportContext;
  private readonly peers = new Map<bigint, Peer>();
  private readonly remotes = new Map<bigint, Remote>();
  private readonly received = new Subject<Message>();
  private readonly removed = new Subject<string>();
  private readonly stopping = new Set<Promise<void>>();
  private removedReported = false;
  private closed = false;

  constructor(private readonly opts: TransportOptions) {
    const logger = opts.logger.child({ component: "rafthttp" });
    const timings = { ...ETCD_TIMINGS(opts.electionTimeoutMs), ...opts.timings };
    this.ctx = {
      localId: opts.localId,
      clusterId: opts.clusterId,
      localPeerUrls: [...opts.localPeerUrls],
      timings,
      raft: opts.raft,
      logger,
      metrics: new TransportMetrics(opts.registry),
      now: opts.now ?? Date.now,
      pipelineAgents: new Agents(opts.tls, true),
      streamAgents: new Agents(opts.tls, false),
      deliver: (m) => this.deliver(m),
      reportRemoved: (detail) => this.reportRemoved(detail),
    };
    this.received$ = this.received.asObservable();
    this.removed$ = this.removed.asObservable();
    this.handler = createPeerHandler({
      ctx: this.ctx,
      services: opts.services,
      peer: (id) => this.peers.get(id),
      addRemote: (id, urls) => this.addRemote(id, urls),
    });
  }

  /**
   * Routes each message as etcd's Transport.Send: a peer if known, else a remote, else dropped.
   * Consecutive MsgApps to one member are joined first (see coalesceAppends).
   */
  send(msgs: readonly Message[]): void {
    for (const m of msgs.length > 1 ? coalesceAppends(msgs) : msgs) {
      if (m.to === 0n) continue;
      if (m.type === MessageType.MsgSnap) {
        // a bare MsgSnap would make an etcd receiver look for a db file it never got
        this.ctx.logger.warn(
          { "remote-peer-id": formatId(m.to) },
          "dropped MsgSnap: snapshots go through sendSnapshot as merged snapshots",
        );
        this.ctx.raft.reportSnapshot(m.to, true);
        continue;
      }
      const peer = this.peers.get(m.to);
      if (peer) {
        peer.send(m);
        continue;
      }
      const remote = this.remotes.get(m.to);
      if (remote) {
        remote.send(m);
        continue;
      }
      this.ctx.logger.debug(
        { type: MessageType[m.type], "unknown-target-peer-id": formatId(m.to) },
        "ignored message send request; unknown remote peer target",
      );
    }
  }

  /**
   * Sends a merged snapshot (MsgSnap + db) with POST /raft/snapshot. Raft hears the outcome through
   * reportSnapshot (and reportUnreachable on failure); the promise resolves on 204 and rejects otherwise.
   */
  sendSnapshot(to: bigint, msg: Message, db: AsyncIterable<Buffer>): Promise<void> {
    const peer = this.peers.get(to);
    if (!peer) {
      this.ctx.raft.reportSnapshot(to, true);
      return Promise.reject(new Error(`member not found: ${formatId(to)}`));
    }
    return peer.sendSnapshot(msg, db);
  }

  addPeer(id: bigint, urls: string[]): void {
    if (this.closed || this.peers.has(id)) return;
    const bad = checkUrls(urls);
    if (bad) throw new Error(`cannot add peer ${formatId(id)}: ${bad}`);
    this.peers.set(id, new Peer(this.ctx, id, urls));
    this.ctx.logger.info(
      {
        "local-member-id": formatId(this.ctx.localId),
        "remote-peer-id": formatId(id),
        "remote-peer-urls": urls,
      },
      "added remote peer",
    );
  }

  removePeer(id: bigint): void {
    const peer = this.peers.get(id);
    if (!peer) {
      this.ctx.logger.warn({ "remote-peer-id": formatId(id) }, "unexpected removal of unknown remote peer");
      return;
    }
    this.peers.delete(id);
    this.track(peer.stop());
    this.ctx.logger.info(
      { "local-member-id": formatId(this.ctx.localId), "removed-remote-peer-id": formatId(id) },
      "removed remote peer",
    );
  }

  updatePeer(id: bigint, urls: string[]): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    const bad = checkUrls(urls);
    if (bad) throw new Error(`cannot update peer ${formatId(id)}: ${bad}`);
    peer.update(urls);
    this.ctx.logger.info(
      { "remote-peer-id": formatId(id), "updated-remote-peer-urls": urls },
      "updated remote peer",
    );
  }

  /** A pipeline-only sender for a member that is not (yet) a peer. */
  addRemote(id: bigint, urls: string[]): void {
    if (this.closed || this.peers.has(id) || this.remotes.has(id) || id === this.ctx.localId) return;
    const bad = checkUrls(urls);
    if (bad) {
      this.ctx.logger.warn(
        { "remote-peer-id": formatId(id), "remote-peer-urls": urls, error: bad },
        "ignored remote",
      );
      return;
    }
    this.remotes.set(id, new Remote(this.ctx, id, urls));
    this.ctx.logger.info(
      {
        "local-member-id": formatId(this.ctx.localId),
        "remote-peer-id": formatId(id),
        "remote-peer-urls": urls,
      },
      "added new remote peer",
    );
  }

  removeAllPeers(): void {
    for (const id of [...this.peers.keys()]) this.removePeer(id);
  }

  /** When the peer became reachable (ms since the epoch); undefined while it is not. */
  activeSince(id: bigint): number | undefined {
    return this.peers.get(id)?.activeSince();
  }

  /** The smoothed round-trip time to a peer in ms (what etcd_network_peer_round_trip_time_seconds samples); undefined before the first probe answer. */
  roundTripMs(id: bigint): number | undefined {
    return this.peers.get(id)?.roundTripMs();
  }

  /** How many peers are reachable now. */
  activePeers(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.activeSince() !== undefined) n++;
    return n;
  }

  /** The URLs a peer (or remote) is reached at. */
  peerUrls(id: bigint): string[] | undefined {
    return (this.peers.get(id) ?? this.remotes.get(id))?.picker.all();
  }

  /** Stops every peer and remote, closes connections and completes the observables. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.remotes.values()) this.track(r.stop());
    for (const p of this.peers.values()) this.track(p.stop());
    this.remotes.clear();
    this.peers.clear();
    await Promise.all([...this.stopping]);
    this.ctx.pipelineAgents.destroy();
    this.ctx.streamAgents.destroy();
    this.received.complete();
    this.removed.complete();
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((err: unknown) => this.ctx.logger.warn({ err }, "failed to stop a peer"))
      .finally(() => this.stopping.delete(tracked));
    this.stopping.add(tracked);
  }

  private deliver(m: Message): void {
    if (this.closed) return;
    if (this.opts.services.isRemoved(m.from)) {
      this.ctx.logger.warn(
        { "removed-member-id": formatId(m.from) },
        "rejected Raft message from removed member",
      );
      return;
    }
    this.received.next(m);
  }

  private reportRemoved(detail: string): void {
    this.ctx.logger.error({ error: detail }, "this member was removed from the cluster");
    if (this.removedReported || this.closed) return;
    this.removedReported = true;
    this.removed.next(detail);
  }
}
