// The simulator's transport model on its own: per-stream order within the reorder window, a dropped stream
// losing what was on it and what is sent until it is dialed again, healing dialing every stream again.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Message, MessageType } from "../../../src/gen/raftpb/raft.js";
import { SimNetwork } from "./network.js";
import { Prng } from "./prng.js";
import { TransportNetwork } from "./transport-network.js";

function msg(from: bigint, to: bigint, index: number): Message {
  return {
    type: MessageType.MsgApp,
    to,
    from,
    term: 1,
    logTerm: 1,
    index,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: Buffer.alloc(0),
  } as Message;
}

const faults = (reorderWindow: number, loss = 0) => ({ loss, duplicate: 0, serialize: false, reorderWindow });

/** Delivers everything at random and returns the indexes per stream in arrival order. */
function arrivals(net: SimNetwork): Map<string, number[]> {
  const out = new Map<string, number[]>();
  while (net.size > 0) {
    const m = SimNetwork.open(net.takeRandom(0));
    const key = `${m.from}>${m.to}`;
    out.set(key, [...(out.get(key) ?? []), m.index]);
  }
  return out;
}

test("a window of 1 keeps each stream in sending order; streams interleave", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const net = new TransportNetwork(new Prng(seed), faults(1));
    for (let i = 0; i < 50; i++) {
      assert.equal(net.send(msg(1n, 2n, i), 0), "sent");
      assert.equal(net.send(msg(1n, 3n, i), 0), "sent");
    }
    const got = arrivals(net);
    const inOrder = Array.from({ length: 50 }, (_, i) => i);
    assert.deepEqual(got.get("1>2"), inOrder, `seed ${seed}`);
    assert.deepEqual(got.get("1>3"), inOrder, `seed ${seed}`);
  }
});

test("a window of w lets a message overtake at most w-1 older ones, and some do; nothing is lost", () => {
  let overtakes = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const net = new TransportNetwork(new Prng(seed), faults(4));
    for (let i = 0; i < 100; i++) net.send(msg(1n, 2n, i), 0);
    const got = arrivals(net).get("1>2") ?? [];
    assert.deepEqual(
      [...got].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
      "nothing lost",
    );
    got.forEach((index, position) => {
      // a message leaves among the 4 oldest still queued: it overtakes at most 3 older ones
      assert.ok(index - position <= 3, `seed ${seed}: ${index} arrived ${position}th`);
      if (index !== position) overtakes++;
    });
  }
  assert.ok(overtakes > 0, "the window reorders");
});

test("a dropped stream loses what was on it and what is sent until it is dialed again", () => {
  const net = new TransportNetwork(new Prng(3), faults(1));
  net.send(msg(1n, 2n, 1), 0);
  net.send(msg(1n, 2n, 2), 0);
  net.send(msg(2n, 1n, 1), 0);
  const drop = net.dropStream(1n, 2n, 10);
  assert.ok(drop);
  assert.deepEqual(
    drop.lost.map((f) => SimNetwork.open(f).index),
    [1, 2],
  );
  assert.ok(drop.until > 10);
  assert.equal(net.size, 1, "the other direction is untouched");
  assert.equal(net.send(msg(1n, 2n, 3), drop.until - 1), "unreachable");
  assert.equal(net.lostInGaps, 1);
  assert.equal(net.send(msg(1n, 2n, 4), drop.until), "sent", "dialed again");
  assert.deepEqual(
    net.takeAll().map((f) => [f.from, SimNetwork.open(f).index]),
    [
      [2n, 1],
      [1n, 4],
    ],
    "takeAll hands out in sending order",
  );
});

test("healing dials dropped streams again; a quiet network drops nothing", () => {
  const net = new TransportNetwork(new Prng(4), faults(1));
  net.dropStream(1n, 2n, 0);
  net.heal();
  assert.equal(net.send(msg(1n, 2n, 1), 1), "sent");
  net.quiet = true;
  assert.equal(net.dropStream(1n, 2n, 2), undefined);
  assert.equal(net.size, 1);
});

test("a full send buffer reports the peer unreachable", () => {
  const net = new TransportNetwork(new Prng(5), faults(1, 0.5));
  const results = Array.from({ length: 200 }, (_, i) => net.send(msg(1n, 2n, i), 0));
  const refused = results.filter((r) => r === "unreachable").length;
  assert.ok(refused > 50 && refused < 150, `${refused} of 200 refused at loss 0.5`);
  assert.equal(net.size, 200 - refused);
});
