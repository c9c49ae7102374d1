// etcd's etcd_network_* metrics, under etcd's names and labels so existing dashboards keep working.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** 0.1 s doubling 10 times, as etcd buckets snapshot transfer durations. */
const SNAPSHOT_BUCKETS = Array.from({ length: 10 }, (_, i) => 0.1 * 2 ** i);
/** 0.1 ms doubling 16 times, as etcd buckets peer round-trip times. */
const RTT_BUCKETS = Array.from({ length: 16 }, (_, i) => 0.0001 * 2 ** i);

/** One peer's bytes since the counter was last read: a stream adds to it per write or read. */
export interface ByteTally {
  bytes: number;
}

/**
 * Byte counts per peer kept as plain numbers and added to their counter when it is read (a scrape):
 * a labelled increment hashes and checks its labels, which cost the streams several microseconds a
 * message on the path between a follower's sync and its answer.
 */
class ByteTallies<L extends string> {
  private readonly tallies = new Map<string, ByteTally>();

  constructor(private readonly label: L) {}

  /** The tally of one peer (formatted id), the same object for as long as the process runs. */
  of(peer: string): ByteTally {
    let tally = this.tallies.get(peer);
    if (tally === undefined) {
      tally = { bytes: 0 };
      this.tallies.set(peer, tally);
    }
    return tally;
  }

  /** Adds what the tallies hold to `counter` and empties them. */
  flushInto(counter: Counter<L>): void {
    for (const [peer, tally] of this.tallies) {
      if (tally.bytes === 0) continue;
      counter.inc({ [this.label]: peer } as Partial<Record<L, string>>, tally.bytes);
      tally.bytes = 0;
    }
  }
}

export class TransportMetrics {
  readonly activePeers: Gauge<"Local" | "Remote">;
  readonly disconnectedPeers: Counter<"Local" | "Remote">;
  readonly sentBytes: Counter<"To">;
  readonly receivedBytes: Counter<"From">;
  readonly sentFailures: Counter<"To">;
  readonly receivedFailures: Counter<"From">;
  readonly snapshotSend: Counter<"To">;
  readonly snapshotSendInflights: Gauge<"To">;
  readonly snapshotSendFailures: Counter<"To">;
  readonly snapshotSendSeconds: Histogram<"To">;
  readonly snapshotReceive: Counter<"From">;
  readonly snapshotReceiveInflights: Gauge<"From">;
  readonly snapshotReceiveFailures: Counter<"From">;
  readonly snapshotReceiveSeconds: Histogram<"From">;
  readonly roundTripSeconds: Histogram<"To">;
  private readonly sentTallies = new ByteTallies("To");
  private readonly receivedTallies = new ByteTallies("From");

  /** Without a registry the metrics are kept but published nowhere. */
  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name: `etcd_network_${name}`, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: L[], collect?: () => void) =>
      new Counter<L>({
        name: `etcd_network_${name}`,
        help,
        labelNames,
        registers,
        ...(collect ? { collect } : {}),
      });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      new Histogram<L>({ name: `etcd_network_${name}`, help, labelNames, buckets, registers });

    this.activePeers = gauge("active_peers", "The current number of active peer connections.", [
      "Local",
      "Remote",
    ]);
    this.disconnectedPeers = counter("disconnected_peers_total", "The total number of disconnected peers.", [
      "Local",
      "Remote",
    ]);
    this.sentBytes = counter(
      "peer_sent_bytes_total",
      "The total number of bytes sent to peers.",
      ["To"],
      () => this.sentTallies.flushInto(this.sentBytes),
    );
    this.receivedBytes = counter(
      "peer_received_bytes_total",
      "The total number of bytes received from peers.",
      ["From"],
      () => this.receivedTallies.flushInto(this.receivedBytes),
    );
    this.sentFailures = counter("peer_sent_failures_total", "The total number of send failures from peers.", [
      "To",
    ]);
    this.receivedFailures = counter(
      "peer_received_failures_total",
      "The total number of receive failures from peers.",
      ["From"],
    );
    this.snapshotSend = counter("snapshot_send_success", "Total number of successful snapshot sends", ["To"]);
    this.snapshotSendInflights = gauge(
      "snapshot_send_inflights_total",
      "Total number of inflight snapshot sends",
      ["To"],
    );
    this.snapshotSendFailures = counter("snapshot_send_failures", "Total number of snapshot send failures", [
      "To",
    ]);
    this.snapshotSendSeconds = histogram(
      "snapshot_send_total_duration_seconds",
      "Total latency distributions of v3 snapshot sends",
      ["To"],
      SNAPSHOT_BUCKETS,
    );
    this.snapshotReceive = counter(
      "snapshot_receive_success",
      "Total number of successful snapshot receives",
      ["From"],
    );
    this.snapshotReceiveInflights = gauge(
      "snapshot_receive_inflights_total",
      "Total number of inflight snapshot receives",
      ["From"],
    );
    this.snapshotReceiveFailures = counter(
      "snapshot_receive_failures",
      "Total number of snapshot receive failures",
      ["From"],
    );
    this.snapshotReceiveSeconds = histogram(
      "snapshot_receive_total_duration_seconds",
      "Total latency distributions of v3 snapshot receives",
      ["From"],
      SNAPSHOT_BUCKETS,
    );
    this.roundTripSeconds = histogram(
      "peer_round_trip_time_seconds",
      "Round-Trip-Time histogram between peers",
      ["To"],
      RTT_BUCKETS,
    );
  }

  /** Bytes sent to a peer by its streams, counted in etcd_network_peer_sent_bytes_total. */
  sentTally(to: string): ByteTally {
    return this.sentTallies.of(to);
  }

  /** Bytes received from a peer on its streams, counted in etcd_network_peer_received_bytes_total. */
  receivedTally(from: string): ByteTally {
    return this.receivedTallies.of(from);
  }
}
