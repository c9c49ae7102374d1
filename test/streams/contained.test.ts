import assert from "node:assert/strict";
import { test } from "node:test";
import { delay, EMPTY, filter, map, mergeMap, NEVER, of, throwError } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { type ContainedFailure, contained } from "../../streams/operators/contained.js";
import { refuseAboveRate } from "../../streams/operators/refuse-above-rate.js";

const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

test("contained: a throw fails only the value that caused it; later values still pass", () => {
  const failures: string[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const op = map((v: string) => {
      if (v === "b") throw new Error("bad b");
      return v.toUpperCase();
    });
    const out = cold("a-b-c|").pipe(
      contained(op, {
        timeoutMs: 10,
        maxPending: 10,
        onFailure: (f) =>
          failures.push(`${f.value}:${f.reason}:${f.reason === "error" ? (f.error as Error).message : ""}`),
      }),
    );
    expectObservable(out).toBe("A---C|");
  });
  assert.deepEqual(failures, ["b:error:bad b"]);
});

test("contained: a stalled run is abandoned after the timeout and the queue moves on, in order", () => {
  const failures: Array<ContainedFailure<string>["reason"]> = [];
  scheduler().run(({ cold, expectObservable }) => {
    // b never completes: it holds c until its 5 ms deadline, then c runs (2 ms delay)
    const op = mergeMap((v: string) => (v === "b" ? NEVER : of(v).pipe(delay(2))));
    const out = cold("abc|").pipe(
      contained(op, { timeoutMs: 5, maxPending: 10, onFailure: (f) => failures.push(f.reason) }),
    );
    // a: 0-2; b: 2-7 (timeout); c: 7-9; complete at 9
    expectObservable(out).toBe("--a------(c|)");
  });
  assert.deepEqual(failures, ["timeout"]);
});

test("contained: values beyond maxPending behind a slow run fail with overflow, never queue without bound", () => {
  const failures: string[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const op = mergeMap((v: string) => of(v).pipe(delay(10)));
    const out = cold("abcd|").pipe(
      contained(op, {
        timeoutMs: 100,
        maxPending: 2,
        onFailure: (f) => failures.push(`${f.value}:${f.reason}`),
      }),
    );
    expectObservable(out).toBe("10ms a 9ms b 9ms (c|)");
  });
  assert.deepEqual(failures, ["d:overflow"]);
});

test("contained: filtering and errors through error notifications are contained too", () => {
  const failures: string[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const op = mergeMap((v: string) =>
      v === "x" ? throwError(() => new Error("no x")) : v === "y" ? EMPTY : of(v),
    );
    const out = cold("xyz|").pipe(
      contained(op, { timeoutMs: 5, maxPending: 5, onFailure: (f) => failures.push(f.reason) }),
    );
    expectObservable(out).toBe("--z|");
  });
  assert.deepEqual(failures, ["error"]);
});

test("contained: a reporter that throws does not end the stream", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const op = filter((v: string) => {
      if (v === "a") throw new Error("a");
      return true;
    });
    const out = cold("ab|").pipe(
      contained(op, {
        timeoutMs: 5,
        maxPending: 5,
        onFailure: () => {
          throw new Error("reporter");
        },
      }),
    );
    expectObservable(out).toBe("-b|");
  });
});

test("refuseAboveRate lets a burst through, refuses the excess, and refills with time", () => {
  const refused: string[] = [];
  scheduler().run(({ cold, expectObservable }) => {
    const op = refuseAboveRate<string>({ perSecond: 100, burst: 2 }, (v) => new Error(`too many: ${v}`));
    // 100/s = one token per 10 ms; a, b use the burst; c is refused; d at 10 ms has one token again
    const out = cold("abc 7ms d|").pipe(
      contained(op, {
        timeoutMs: 5,
        maxPending: 5,
        onFailure: (f) => refused.push(f.reason === "error" ? (f.error as Error).message : f.reason),
      }),
    );
    expectObservable(out).toBe("ab- 7ms d|");
  });
  assert.deepEqual(refused, ["too many: c"]);
});

test("contained and refuseAboveRate refuse bad options", () => {
  assert.throws(
    () =>
      contained(
        map((x) => x),
        { timeoutMs: 0, maxPending: 1 },
      ),
    /timeoutMs must be positive/,
  );
  assert.throws(() => refuseAboveRate({ perSecond: 0 }, () => new Error()), /perSecond must be positive/);
});
