// The batches that cross between the client port's HTTP/2 thread and the main thread: what goes in
// comes out, in order, and a batch cut short is refused rather than read past its end.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AnswerBatch,
  BatchFormatError,
  BatchMethods,
  CallBatch,
  type FrontAnswer,
  type FrontCall,
  readAnswers,
  readCalls,
} from "../../src/api/front/call-batch.js";
import { mulberry32, withSeed } from "../seeded-random.js";

const bytesOf = (random: () => number, n: number) =>
  Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
const textOf = (random: () => number, n: number) =>
  Array.from({ length: n }, () => String.fromCodePoint(32 + Math.floor(random() * 0x2000))).join("");

function callsBack(buffer: ArrayBuffer): FrontCall[] {
  const out: FrontCall[] = [];
  readCalls(buffer, (c) => out.push({ ...c, request: Uint8Array.from(c.request) }));
  return out;
}
function answersBack(buffer: ArrayBuffer): FrontAnswer[] {
  const out: FrontAnswer[] = [];
  readAnswers(buffer, (a) => out.push("frame" in a ? { id: a.id, frame: Uint8Array.from(a.frame) } : a));
  return out;
}

describe("front call batches", () => {
  it("indexes the paths it was given and nothing else, and refuses more than a byte can name", () => {
    const methods = new BatchMethods(["/etcdserverpb.KV/Range", "/etcdserverpb.Lease/LeaseGrant"]);
    assert.equal(methods.indexOf("/etcdserverpb.KV/Range"), 0);
    assert.equal(methods.indexOf("/etcdserverpb.Lease/LeaseGrant"), 1);
    assert.equal(methods.indexOf("/etcdserverpb.KV/Compact"), -1);
    assert.throws(() => new BatchMethods(Array.from({ length: 257 }, (_, i) => `/s/m${i}`)));
  });

  it("gives back calls and answers as they were added, batch after batch", () =>
    withSeed("FRONT_BATCH_SEED", "test/api/front-call-batch.test.ts", (seed) => {
      const random = mulberry32(seed);
      const calls = new CallBatch();
      const answers = new AnswerBatch();
      for (let round = 0; round < 50; round++) {
        const wantCalls: FrontCall[] = [];
        const wantAnswers: FrontAnswer[] = [];
        const n = 1 + Math.floor(random() * 20);
        for (let i = 0; i < n; i++) {
          const call: FrontCall = {
            id: Math.floor(random() * 2 ** 32),
            method: Math.floor(random() * 4),
            token: random() < 0.3 ? textOf(random, Math.floor(random() * 40)) : undefined,
            deadlineMs: random() < 0.3 ? Math.floor(random() * 100_000) : undefined,
            request: bytesOf(random, Math.floor(random() * 300)),
          };
          wantCalls.push(call);
          calls.add(call);
          const answer: FrontAnswer =
            random() < 0.7
              ? { id: call.id, frame: bytesOf(random, Math.floor(random() * 300)) }
              : {
                  id: call.id,
                  code: Math.floor(random() * 17),
                  message: textOf(random, Math.floor(random() * 60)),
                };
          wantAnswers.push(answer);
          answers.add(answer);
        }
        assert.equal(calls.length, n);
        assert.deepEqual(callsBack(calls.take()), wantCalls, `round ${round}`);
        assert.deepEqual(answersBack(answers.take()), wantAnswers, `round ${round}`);
        assert.equal(calls.length, 0);
        assert.equal(answers.length, 0);
      }
    }));

  it("refuses a batch cut short, and an answer of an unknown kind", () => {
    const calls = new CallBatch();
    calls.add({ id: 7, method: 1, token: "tok", deadlineMs: undefined, request: new Uint8Array(10) });
    const whole = calls.take();
    assert.throws(() => readCalls(whole.slice(0, whole.byteLength - 1), () => {}), BatchFormatError);
    const answers = new AnswerBatch();
    answers.add({ id: 7, frame: new Uint8Array(3) });
    const bytes = new Uint8Array(answers.take());
    bytes[4] = 9;
    assert.throws(() => readAnswers(bytes.buffer, () => {}), /unknown answer kind 9/);
  });

  it("takes an empty token apart from none, and a deadline apart from none", () => {
    const calls = new CallBatch();
    calls.add({ id: 1, method: 0, token: "", deadlineMs: 500, request: new Uint8Array(0) });
    calls.add({ id: 2, method: 0, token: undefined, deadlineMs: undefined, request: new Uint8Array(0) });
    assert.deepEqual(
      callsBack(calls.take()).map((c) => [c.token, c.deadlineMs]),
      [
        ["", 500],
        [undefined, undefined],
      ],
    );
  });
});
