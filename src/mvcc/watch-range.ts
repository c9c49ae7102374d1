// The key range a watcher covers, with etcd's range rules: no end = one key, end "\0" = every key >= key,
// otherwise the half-open interval [key, end).

const FROM_KEY_END = Buffer.from([0]);

export type KeyRangeKind = "key" | "fromKey" | "interval";

export class KeyRange {
  readonly kind: KeyRangeKind;
  /** The end as the KV store's range calls expect it: undefined for one key, [0] for "from key". */
  readonly end: Buffer | undefined;

  constructor(
    readonly key: Buffer,
    end: Buffer | undefined,
  ) {
    if (end === undefined || end.length === 0) {
      this.kind = "key";
      this.end = undefined;
    } else if (end.length === 1 && end[0] === 0) {
      this.kind = "fromKey";
      this.end = FROM_KEY_END;
    } else {
      this.kind = "interval";
      this.end = end;
    }
  }

  /** An interval whose end is not after its start matches nothing; etcd refuses such a watch. */
  isEmpty(): boolean {
    return this.kind === "interval" && Buffer.compare(this.key, this.end!) >= 0;
  }

  contains(key: Uint8Array): boolean {
    switch (this.kind) {
      case "key":
        return Buffer.compare(key, this.key) === 0;
      case "fromKey":
        return Buffer.compare(key, this.key) >= 0;
      case "interval":
        return Buffer.compare(key, this.key) >= 0 && Buffer.compare(key, this.end!) < 0;
    }
  }
}
