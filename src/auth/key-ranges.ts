// The key space a user may read or write, as one sorted list of disjoint intervals: every
// permission of every role of the user merged, so a check is one binary search. Intervals follow
// etcd's key-range rules (an empty range end is the single key, "\0" is "to the end of the key
// space"); two intervals that touch or overlap become one, so a request range is allowed when it lies
// inside the union even if no single permission covers it (etcd's interval tree `Contains`).

/** [begin, end); end undefined = up to the end of the key space. */
export interface KeyInterval {
  readonly begin: Buffer;
  readonly end: Buffer | undefined;
}

const isOpenEnd = (end: Buffer) => end.length === 1 && end[0] === 0;

/** The interval of a permission or request: a single key, a range, or everything from `key` on. */
export function intervalOf(key: Buffer, rangeEnd: Buffer): KeyInterval {
  if (rangeEnd.length === 0) return { begin: key, end: Buffer.concat([key, Buffer.from([0])]) };
  return { begin: key, end: isOpenEnd(rangeEnd) ? undefined : rangeEnd };
}

/** end a <= end b, with undefined as +infinity. */
function endNotAfter(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (b === undefined) return true;
  if (a === undefined) return false;
  return Buffer.compare(a, b) <= 0;
}

export class KeyRangeSet {
  private readonly intervals: KeyInterval[];

  /**
   * Merges the given intervals. Empty ones (end at or before begin) and those with an empty begin
   * are dropped: etcd orders an empty begin after every key, so such a permission grants nothing.
   */
  constructor(input: Iterable<KeyInterval>) {
    const usable = [...input].filter(
      (i) => i.begin.length > 0 && (i.end === undefined || Buffer.compare(i.begin, i.end) < 0),
    );
    usable.sort((a, b) => Buffer.compare(a.begin, b.begin));
    const merged: Array<{ begin: Buffer; end: Buffer | undefined }> = [];
    for (const i of usable) {
      const last = merged[merged.length - 1];
      if (last && (last.end === undefined || Buffer.compare(i.begin, last.end) <= 0)) {
        if (!endNotAfter(i.end, last.end)) last.end = i.end;
      } else {
        merged.push({ begin: i.begin, end: i.end });
      }
    }
    this.intervals = merged;
  }

  get size(): number {
    return this.intervals.length;
  }

  /** The merged interval that holds `key`, if any. */
  private holding(key: Buffer): KeyInterval | undefined {
    let lo = 0;
    let hi = this.intervals.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.intervals[mid].begin, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const i = this.intervals[found];
    return i.end === undefined || Buffer.compare(key, i.end) < 0 ? i : undefined;
  }

  /** Whether the set covers a request's key or range (etcd's point / interval check). */
  covers(key: Buffer, rangeEnd: Buffer): boolean {
    const at = this.holding(key);
    if (!at) return false;
    if (rangeEnd.length === 0) return true;
    return endNotAfter(isOpenEnd(rangeEnd) ? undefined : rangeEnd, at.end);
  }
}
