// Round-trip and clock probes of one peer: GET /raft/probing every probeMs on the pinned URL (the
// next one after a failure). The smoothed RTT feeds etcd_network_peer_round_trip_time_seconds; an
// unhealthy peer or a clock drift above 1 s is logged, as etcd does.
import * as t from "io-ts";
import { formatId } from "../membership/ids.js";
import type { TransportContext } from "./context.js";
import { fetchPeer, peerUrl } from "./http-util.js";

const SMOOTHING = 0.125;
const MONITOR_UNHEALTHY_MS = 5000;
const MAX_CLOCK_DRIFT_MS = 1000;

const Health = t.type({ OK: t.boolean, Now: t.string });

export class Prober {
  private pinned = 0;
  private srttMs = 0;
  private clockDiffMs = 0;
  private healthy = false;
  private lastError: string | undefined;
  private readonly probeTimer: NodeJS.Timeout;
  private monitorTimer: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private probing = false;

  constructor(
    private readonly ctx: TransportContext,
    private readonly peerId: bigint,
    private readonly urls: readonly string[],
  ) {
    this.probeTimer = setInterval(() => void this.probe(), ctx.timings.probeMs);
    this.probeTimer.unref();
    this.monitorTimer = this.scheduleMonitor(this.unhealthyInterval());
  }

  stop(): void {
    clearInterval(this.probeTimer);
    clearTimeout(this.monitorTimer);
    this.abort.abort();
  }

  /** The smoothed round-trip time in ms (0 before the first answer). */
  get srtt(): number {
    return this.srttMs;
  }

  private scheduleMonitor(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.monitor(), ms);
    timer.unref();
    return timer;
  }

  private monitor(): void {
    const fields = {
      "round-tripper-name": "ROUND_TRIPPER_RAFT_MESSAGE",
      "remote-peer-id": formatId(this.peerId),
    };
    if (!this.healthy) {
      this.ctx.logger.warn(
        { ...fields, "rtt-ms": this.srttMs, error: this.lastError },
        "prober detected unhealthy status",
      );
    }
    if (this.clockDiffMs > MAX_CLOCK_DRIFT_MS) {
      this.ctx.logger.warn(
        { ...fields, "clock-drift-ms": this.clockDiffMs, "rtt-ms": this.srttMs },
        "prober found high clock drift",
      );
    }
    this.ctx.metrics.roundTripSeconds.observe({ To: formatId(this.peerId) }, this.srttMs / 1000);
    this.monitorTimer = this.scheduleMonitor(
      this.healthy ? this.ctx.timings.probeReportMs : this.unhealthyInterval(),
    );
  }

  private unhealthyInterval(): number {
    return Math.min(MONITOR_UNHEALTHY_MS, this.ctx.timings.probeReportMs);
  }

  private async probe(): Promise<void> {
    if (this.probing || this.urls.length === 0) return;
    this.probing = true;
    const url = peerUrl(this.urls[this.pinned % this.urls.length], "/raft/probing");
    const start = Date.now();
    try {
      const answer = await fetchPeer({
        method: "GET",
        url,
        // a new connection each time: a kept-alive socket taken up again after seconds idle had another
        // shape than the peer streams' sockets, and V8 dropped the socket code it had optimized for
        // those (9-10 functions of the read and write paths on every member at the second probe)
        agent: this.ctx.streamAgents.for(url),
        connectTimeoutMs: this.ctx.timings.dialTimeoutMs,
        timeoutMs: this.ctx.timings.probeMs,
        signal: this.abort.signal,
      });
      if (answer.status !== 200)
        throw new Error(`got unexpected HTTP status code ${answer.status} from ${url.href}`);
      const health = Health.decode(JSON.parse(answer.body.toString("utf8")));
      if (health._tag === "Left" || !health.right.OK) throw new Error(`unhealthy answer from ${url.href}`);
      const rtt = Date.now() - start;
      this.srttMs = (1 - SMOOTHING) * this.srttMs + SMOOTHING * rtt;
      const remoteNow = Date.parse(health.right.Now);
      if (!Number.isNaN(remoteNow)) this.clockDiffMs = Date.now() - remoteNow - this.srttMs / 2;
      this.healthy = true;
      this.lastError = undefined;
    } catch (err) {
      if (this.abort.signal.aborted) return;
      this.healthy = false;
      this.lastError = (err as Error).message;
      this.pinned = (this.pinned + 1) % this.urls.length;
    } finally {
      this.probing = false;
    }
  }
}
