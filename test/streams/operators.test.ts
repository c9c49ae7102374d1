import assert from "node:assert/strict";
import { test } from "node:test";
import { map, of, timer } from "rxjs";
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
