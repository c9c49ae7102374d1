import assert from "node:assert/strict";
import { test } from "node:test";
import { map, of, Subject, timer } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { batchWhileBusy } from "../../streams/operators/batch-while-busy.js";
import { inOrder } from "../../streams/operators/in-order.js";
import { ticks } from "../../streams/sources/ticks.js";

const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

test("ticks emits once per interval", () => {
  scheduler().run(({ expectObservable }) => {
    const t = ticks(10);
    expectObservable(t, "^ 35ms !").toBe("10ms a 9ms b 9ms c", { a: 0, b: 1, c: 2 });
  });
});

test("ticks refuses a non-positive interval", () => {
  assert.throws(() => ticks(0), /tick interval must be positive/);
});

test("inOrder runs work one at a time in arrival order even when later work is faster", () => {
  scheduler().run(({ cold, expectObservable }) => {
    // a takes 5ms, b takes 1ms: b must still come after a and start only when a is done
    const source = cold("ab|");
    const durations: Record<string, number> = { a: 5, b: 1 };
    const out = source.pipe(inOrder((v) => timer(durations[v]).pipe(map(() => v.toUpperCase()))));
    expectObservable(out).toBe("-----A(B|)");
  });
});

test("inOrder turns a synchronous throw into a stream error", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const out = cold("a|").pipe(
      inOrder((): never => {
        throw new Error("boom");
      }),
    );
    expectObservable(out).toBe("#", undefined, new Error("boom"));
  });
});

test("batchWhileBusy sends the first value alone and groups what queued meanwhile", () => {
  const batches: string[][] = [];
  scheduler().run(({ hot, expectObservable }) => {
    const source = hot("ab-c------d--|");
    const out = source.pipe(
      batchWhileBusy((batch) => {
        batches.push([...batch]);
        return timer(4).pipe(map(() => batch.join("")));
      }),
    );
    // a runs 0-4 alone; b and c queue meanwhile and run together 4-8; d finds the operator idle at 10
    expectObservable(out).toBe("----x---y-----(z|)", { x: "a", y: "bc", z: "d" });
  });
  assert.deepEqual(batches, [["a"], ["b", "c"], ["d"]]);
});

test("batchWhileBusy respects maxBatch", () => {
  const seen: string[] = [];
  of("a", "b", "c", "d", "e")
    .pipe(batchWhileBusy((batch) => of(batch.join("")), 2))
    .subscribe((b) => seen.push(b));
  // synchronous: a starts alone, b..e queue only while a runs (it is synchronous, so each starts alone)
  assert.deepEqual(seen, ["a", "b", "c", "d", "e"]);
});

test("batchWhileBusy splits a long queue into bounded batches", () => {
  scheduler().run(({ hot, expectObservable }) => {
    const source = hot("abcde|");
    const out = source.pipe(batchWhileBusy((batch) => timer(10).pipe(map(() => batch.join(""))), 2));
    expectObservable(out).toBe("10ms x 9ms y 9ms (z|)", { x: "a", y: "bc", z: "de" });
  });
});

test("batchWhileBusy propagates an error from processing", () => {
  scheduler().run(({ hot, expectObservable }) => {
    const out = hot("a|").pipe(
      batchWhileBusy((): never => {
        throw new Error("nope");
      }),
    );
    expectObservable(out).toBe("#", undefined, new Error("nope"));
  });
});

/** A promise and the functions that settle it, for work whose end a test decides. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = () => new Promise((r) => setImmediate(r));

test("inOrder follows promises one at a time in arrival order, and completes after the last", async () => {
  const source = new Subject<string>();
  const pending = new Map<string, ReturnType<typeof deferred<string>>>();
  const started: string[] = [];
  const out: string[] = [];
  let completed = false;
  source
    .pipe(
      inOrder((v, i) => {
        started.push(`${v}${i}`);
        const d = deferred<string>();
        pending.set(v, d);
        return d.promise;
      }),
    )
    .subscribe({ next: (r) => out.push(r), complete: () => (completed = true) });
  source.next("a");
  source.next("b");
  source.next("c");
  source.complete();
  assert.deepEqual(started, ["a0"], "b waits for a");
  pending.get("a")?.resolve("A");
  await turn();
  assert.deepEqual(started, ["a0", "b1"]);
  // c's work starts only once b's promise settled, whatever else resolves meanwhile
  pending.get("b")?.resolve("B");
  await turn();
  pending.get("c")?.resolve("C");
  await turn();
  assert.deepEqual(out, ["A", "B", "C"]);
  assert.deepEqual(started, ["a0", "b1", "c2"]);
  assert.equal(completed, true);
});

test("inOrder: a rejected promise errors the stream; once unsubscribed, a settled promise emits nothing", async () => {
  const errors: unknown[] = [];
  const failing = new Subject<number>();
  failing.pipe(inOrder(() => Promise.reject(new Error("boom")))).subscribe({ error: (e) => errors.push(e) });
  failing.next(1);
  await turn();
  assert.equal((errors[0] as Error)?.message, "boom");

  const source = new Subject<number>();
  const d = deferred<number>();
  const out: number[] = [];
  const sub = source.pipe(inOrder(() => d.promise)).subscribe((v) => out.push(v));
  source.next(1);
  sub.unsubscribe();
  d.resolve(7);
  await turn();
  assert.deepEqual(out, []);
});

test("batchWhileBusy follows a promise: the first value alone, then what queued meanwhile", async () => {
  const source = new Subject<string>();
  const batches: string[][] = [];
  const pending: Array<ReturnType<typeof deferred<string>>> = [];
  const out: string[] = [];
  const errors: unknown[] = [];
  source
    .pipe(
      batchWhileBusy((batch) => {
        batches.push([...batch]);
        const d = deferred<string>();
        pending.push(d);
        return d.promise;
      }),
    )
    .subscribe({ next: (r) => out.push(r), error: (e: unknown) => errors.push(e) });
  source.next("a");
  source.next("b");
  source.next("c");
  assert.deepEqual(batches, [["a"]]);
  pending[0].resolve("x");
  await turn();
  assert.deepEqual(batches, [["a"], ["b", "c"]]);
  pending[1].reject(new Error("late"));
  await turn();
  assert.deepEqual(out, ["x"]);
  // a failed batch ends the stream with its error (handled here: unhandled, RxJS throws it later)
  assert.equal((errors[0] as Error | undefined)?.message, "late");
});

test("inOrder takes inputs that complete at once one after the other, and completes", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const out = cold("a---b---c---|").pipe(inOrder((v, i) => of(`${v}${i}`, v.toUpperCase())));
    expectObservable(out).toBe("(xA)(yB)(zC)|", { x: "a0", A: "A", y: "b1", B: "B", z: "c2", C: "C" });
  });
});
