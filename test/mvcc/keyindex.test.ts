// A key's history (KeyHistory) against a plain list of its changes: random puts, deletes and rolled-back
// writes, and what the history answers at every revision (the visible revision, its creation and
// version) and which revisions it holds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyIndex } from "../../src/mvcc/keyindex.js";
import { mulberry32, withSeed } from "../seeded-random.js";

const FILE = "test/mvcc/keyindex.test.ts";

/** One change of the key: a put or a tombstone at (main, sub). */
interface Change {
  main: number;
  sub: number;
  tombstone: boolean;
}

/** What the key looks like at `atRev` from its list of changes: etcd's keyIndex.get. */
function modelGet(changes: readonly Change[], atRev: number) {
  let created = 0;
  let version = 0;
  let visible: { main: number; sub: number; created: number; version: number } | undefined;
  for (const c of changes) {
    if (c.main > atRev) break;
    if (c.tombstone) {
      visible = undefined;
      created = 0;
      version = 0;
      continue;
    }
    if (version === 0) created = c.main;
    version++;
    visible = { main: c.main, sub: c.sub, created, version };
  }
  return visible;
}

test("a key's history answers as the list of its changes", () => {
  withSeed("KEYINDEX_SEED", FILE, (seed) => {
    const random = mulberry32(seed);
    // the reporter prints an assertion's stack, made before withSeed adds the replay line to its message
    const replay = `seed ${seed}; replay: KEYINDEX_SEED=${seed} node --import tsx --test ${FILE}`;
    for (let run = 0; run < 200; run++) {
      const index = new KeyIndex();
      const changes: Change[] = [];
      let main = 1;
      const steps = 1 + Math.floor(random() * 40);
      for (let step = 0; step < steps; step++) {
        const live = index.history("k")?.isLive() ?? false;
        const roll = random();
        const subs = 1 + Math.floor(random() * 3);
        if (roll < 0.12 && live) {
          assert.equal(index.tombstone("k", main, 0), true);
          changes.push({ main, sub: 0, tombstone: true });
        } else if (roll < 0.2 && changes.length > 0) {
          // a write at a new revision, rolled back
          for (let sub = 0; sub < subs; sub++) index.put("k", main, sub);
          index.undo(["k"], main);
        } else {
          for (let sub = 0; sub < subs; sub++) {
            index.put("k", main, sub);
            changes.push({ main, sub, tombstone: false });
          }
        }
        main++;
      }
      const history = index.history("k");
      assert.ok(history !== undefined);
      assert.deepEqual(
        history.revisionsSince(0),
        changes.map(({ main, sub }) => ({ main, sub })),
        `revisions; ${replay}`,
      );
      for (let at = 0; at <= main; at++)
        assert.deepEqual(index.get("k", at), modelGet(changes, at), `at ${at}; ${replay}`);
    }
  });
});
