import assert from "node:assert/strict";
import { test } from "node:test";
import { grpcTimeoutMs } from "../../src/api/grpc/call-stream.js";
import { UnaryRequestCall } from "../../src/api/grpc/unary-request-call.js";
import { mulberry32, withSeed } from "../seeded-random.js";

/** The header's meaning as grpc-go reads it: 1-8 digits and a unit, nothing else (else malformed). */
function byPattern(timeout: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(timeout);
  if (match === null) return undefined;
  const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 1e-6 };
  return (Number(match[1]) * unitMs[match[2]]) | 0;
}

test("grpc-timeout values clients send are read as milliseconds", () => {
  assert.equal(grpcTimeoutMs("4999m"), 4999);
  assert.equal(grpcTimeoutMs("5S"), 5000);
  assert.equal(grpcTimeoutMs("2M"), 120_000);
  assert.equal(grpcTimeoutMs("1H"), 3_600_000);
  assert.equal(grpcTimeoutMs("99999999u"), 99_999);
  assert.equal(grpcTimeoutMs("20000000n"), 20);
  assert.equal(grpcTimeoutMs("00000001S"), 1000);
  assert.equal(grpcTimeoutMs("S"), undefined);
  assert.equal(grpcTimeoutMs(""), undefined);
  assert.equal(grpcTimeoutMs("12x"), undefined);
  // what grpc-js would read in them, grpc-go (etcd) refuses
  assert.equal(grpcTimeoutMs("123456789S"), undefined);
  assert.equal(grpcTimeoutMs(" 5S"), undefined);
  assert.equal(grpcTimeoutMs("5 S"), undefined);
});

test("any grpc-timeout value means what grpc-go reads in it (random values)", () =>
  withSeed("SEED", "test/api/grpc-timeout.test.ts", (seed) => {
    const next = mulberry32(seed);
    const alphabet = "0123456789HMSmun x-";
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(next() * 12);
      let value = "";
      for (let k = 0; k < length; k++) {
        // mostly digits, so that the values clients send come up often
        value +=
          next() < 0.7 ? String(Math.floor(next() * 10)) : alphabet[Math.floor(next() * alphabet.length)];
      }
      assert.equal(grpcTimeoutMs(value), byPattern(value), `seed ${seed}, value ${JSON.stringify(value)}`);
    }
  }));

/** A call that records its failures; `handOver` stands for the request going to its handler. */
class RecordedCall extends UnaryRequestCall {
  readonly failures: string[] = [];
  constructor() {
    super(1024);
  }
  fail(code: number, message: string): void {
    if (this.finishCall()) this.failures.push(`${code} ${message}`);
  }
  handOver(): void {
    this.handedOver = true;
  }
  get deadlineForHandler() {
    return this.clientDeadline;
  }
}

const passed = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a deadline passed before the request went on answers 4; after, the wait told answers, else 2", async () => {
  const early = new RecordedCall();
  assert.equal(early.deadlineForHandler, undefined, "no grpc-timeout, no deadline");
  early.startDeadline(5);
  await passed(30);
  assert.deepEqual(early.failures, ["4 context deadline exceeded"]);

  // the handler's wait is told, and its answer (settled in microtasks) is the call's
  const told = new RecordedCall();
  told.startDeadline(5);
  told.handOver();
  const deadline = told.deadlineForHandler;
  assert.ok(deadline !== undefined && deadline.at > performance.now() - 1);
  let calls = 0;
  deadline.onExpiry(() => {
    calls++;
    void Promise.resolve().then(() => told.fail(14, "etcdserver: request timed out"));
  });
  await passed(30);
  assert.equal(calls, 1);
  assert.deepEqual(told.failures, ["14 etcdserver: request timed out"]);

  // nothing listens: grpc-go's answer to a handler returning the context's error
  const untold = new RecordedCall();
  untold.startDeadline(5);
  untold.handOver();
  await passed(30);
  assert.deepEqual(untold.failures, ["2 context deadline exceeded"]);
});
