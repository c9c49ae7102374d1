// Whether a peer is reachable and since when. Any successful stream attach, dial or POST marks it
// active; any failure marks it inactive. etcd's strict reconfiguration checks read `activeSince`.
import type { Logger } from "pino";
import { formatId } from "../membership/ids.js";
import type { TransportMetrics } from "./metrics.js";

export class PeerStatus {
  private active = false;
  private since: number | undefined;

  constructor(
    private readonly localId: bigint,
    readonly peerId: bigint,
    private readonly metrics: TransportMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  activate(): void {
    if (this.active) return;
    this.logger.info({ "peer-id": formatId(this.peerId) }, "peer became active");
    this.active = true;
    this.since = this.now();
    this.metrics.activePeers.inc(this.labels());
  }

  /** `source` is the channel (stream, pipeline, snapshot), `action` what failed on it. */
  deactivate(source: string, action: string, reason: string): void {
    const msg = `failed to ${action} ${formatId(this.peerId)} on ${source} (${reason})`;
    if (!this.active) {
      this.logger.debug({ "peer-id": formatId(this.peerId), error: msg }, "peer deactivated again");
      return;
    }
    this.logger.warn(
      { "peer-id": formatId(this.peerId), error: msg },
      "peer became inactive (message send to peer failed)",
    );
    this.active = false;
    this.since = undefined;
    this.metrics.activePeers.dec(this.labels());
    this.metrics.disconnectedPeers.inc(this.labels());
  }

  isActive(): boolean {
    return this.active;
  }

  /** When the peer became active (ms since the epoch), undefined while inactive. */
  activeSince(): number | undefined {
    return this.since;
  }

  /** Forget the peer in the active gauge when it is removed while active. */
  release(): void {
    if (this.active) this.metrics.activePeers.dec(this.labels());
    this.active = false;
    this.since = undefined;
  }

  private labels() {
    return { Local: formatId(this.localId), Remote: formatId(this.peerId) };
  }
}
