// What the watchable store needs from the revisioned KV store. The KV store (kvstore.ts) implements it;
// the watch code depends on this interface only, so it can be tested against any faithful implementation.
import type { Event, KeyValue } from "../gen/mvccpb/kv.js";

export interface WatchableSource {
  /** The newest committed revision (1 for an empty store). */
  currentRev(): number;
  /** The revision history was compacted at; -1 when never compacted (etcd's compactMainRev). */
  compactRev(): number;
  /**
   * Registers a listener called synchronously, in revision order, once per committed revision, with every event
   * of that revision (prevKv not filled). Returns the unsubscribe function.
   */
  onCommit(listener: (events: Event[], rev: number) => void): () => void;
  /** Registers a listener called after each compaction with the new compact revision. Returns the unsubscribe. */
  onCompact(listener: (compactRev: number) => void): () => void;
  /**
   * Every event on the key range with fromRev <= revision <= toRev, ascending by revision and by order within the
   * revision, at most `limit` events when given. Throws the "required revision has been compacted" error when that
   * history is gone. `end`: undefined = the single key, [0] = every key >= key, otherwise [key, end).
   */
  eventsBetween(
    key: Buffer,
    end: Buffer | undefined,
    fromRev: number,
    toRev: number,
    limit?: number,
  ): Event[];
  /** The key as it was at `atRev`, undefined when absent; throws the compacted error when atRev is compacted. */
  get(key: Buffer, atRev: number): KeyValue | undefined;
}

const COMPACTED_TEXT = "mvcc: required revision has been compacted";

/** True for the KV store's "required revision has been compacted" error, whichever class carries it. */
export function isCompactedError(err: unknown): boolean {
  return err instanceof Error && err.message.endsWith(COMPACTED_TEXT);
}
