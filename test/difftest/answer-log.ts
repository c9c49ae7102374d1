// What a call held open answered (a watch stream, a waiting Lock or Campaign, an Observe), item by item: the
// runner compares the two servers' logs bucket by bucket (a watch id, a waiter), each item with the index of
// the operation it came after, since the order of events is part of what is compared.

export interface AnswerItem {
  bucket: string;
  value: unknown;
  /** Index of the operation after which it arrived. */
  op: number;
}

export class AnswerLog {
  readonly items: AnswerItem[] = [];
  readonly buckets = new Map<string, AnswerItem[]>();
  /** When the last item arrived (a settle waits for answers to stop coming). */
  lastArrival = 0;

  /** `opIndex` gives the index of the operation run last. */
  constructor(private readonly opIndex: () => number) {}

  protected push(bucket: string, value: unknown): void {
    const item = { bucket, value, op: this.opIndex() };
    this.items.push(item);
    let list = this.buckets.get(bucket);
    if (!list) this.buckets.set(bucket, (list = []));
    list.push(item);
    this.lastArrival = Date.now();
  }
}
