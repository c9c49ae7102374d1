// A damaged etcd 3.4 data dir is refused: one line naming the file at fault, no stack trace, and not a
// byte written (etcd's files stay as they were, no converted copy is left behind).
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { requireEtcd } from "../bbolt/etcd-tools.js";
import { destroyAllMembers, Member } from "../e2e/harness.js";
import { fingerprints, flipByte, restoreInto, walFrames } from "./etcd-tools.js";

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe("damaged etcd data dirs", { timeout: 180_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "rxetcd-etcddir-damaged-"));
  const pristine = join(work, "etcd-data");
  const snapshotFile = join(work, "etcd.snapshot");

  before(async () => {
    requireEtcd();
    const etcd = await Member.start({ binary: "etcd", name: "src" });
    for (let i = 0; i < 12; i++) {
      const r = await etcd.etcdctl(["put", `k${i}`, `v${i}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const saved = await etcd.etcdctl(["snapshot", "save", snapshotFile]);
    assert.equal(saved.code, 0, saved.stderr);
    await etcd.stop();
    cpSync(etcd.dataDir, pristine, { recursive: true });
  });

  after(async () => {
    await destroyAllMembers();
    rmSync(work, { recursive: true, force: true });
  });

  const damages: Array<{ name: string; fromSnapshot?: boolean; damage: (dataDir: string) => string }> = [
    {
      name: "a WAL record with a bad crc",
      damage: (dir) => {
        const wal = join(dir, "member", "wal", "0000000000000000-0000000000000000.wal");
        const frames = walFrames(wal);
        assert.ok(frames.length > 10);
        const f = frames[5];
        flipByte(wal, f.offset + 8 + f.recBytes - 1);
        return wal;
      },
    },
    {
      name: "a truncated bbolt backend",
      damage: (dir) => {
        const db = join(dir, "member", "snap", "db");
        truncateSync(db, 16_384);
        return db;
      },
    },
    {
      name: "a missing bbolt backend",
      damage: (dir) => {
        const db = join(dir, "member", "snap", "db");
        rmSync(db);
        return db;
      },
    },
    {
      name: "a raft snapshot file with a bad crc",
      fromSnapshot: true,
      damage: (dir) => {
        const snapDir = join(dir, "member", "snap");
        const snap = readdirSync(snapDir).find((n) => n.endsWith(".snap"));
        assert.ok(snap, "a .snap file to damage");
        const file = join(snapDir, snap);
        flipByte(file, readFileSync(file).length - 3);
        return file;
      },
    },
  ];

  for (const d of damages) {
    test(`refused, one line naming the file, nothing written: ${d.name}`, async () => {
      let damaged = "";
      const m = await Member.create({
        binary: "rxetcd",
        name: "src",
        prepare: async (m) => {
          if (d.fromSnapshot) await restoreInto(snapshotFile, m);
          else cpSync(pristine, m.dataDir, { recursive: true });
          damaged = d.damage(m.dataDir);
        },
      });
      const before_ = fingerprints(m.dataDir, "");
      m.spawnProcess();
      const st = await m.waitExit(60_000);
      assert.equal(st?.code, 1, `exit status ${JSON.stringify(st)}\n${m.logText()}`);
      const log = readFileSync(m.logFile, "utf8");
      const plain = log.split("\n").filter((l) => l.startsWith("rxetcd: "));
      assert.equal(plain.length, 1, log);
      assert.ok(plain[0].startsWith(`rxetcd: cannot start from the etcd data dir: ${damaged}`), plain[0]);
      assert.equal(count(log, "cannot start from the etcd data dir"), 2, "the plain line and one log entry");
      assert.doesNotMatch(log, /\n\s+at /, "no stack trace");
      assert.deepEqual(fingerprints(m.dataDir, ""), before_, "nothing written");
      assert.equal(existsSync(join(m.dataDir, "member", "rxetcd")), false);
      await m.destroy();
    });
  }
});
