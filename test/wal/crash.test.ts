import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { WAL } from "../../src/wal/index.js";
import { type CrashOp, differenceFromModel, LogModel, parseOp, partlySaved, prng } from "./crash-model.js";
import { tempDir } from "./helpers.js";

/**
 * Kills a writing process with SIGKILL at random moments and checks after each kill that the WAL
 * reopens in exactly the state of all acknowledged operations plus, possibly, some of the ones in
 * flight (applied in order, the last of them perhaps cut short: some of a save's entries without its
 * hard state): nothing acknowledged is lost, no half-written record shows.
 *
 * RXETCD_CRASH_SEED replays the operations and kill delays of a run (the moments of the kills
 * still depend on timing); RXETCD_CRASH_KILLS sets the number of kills (default 50).
 */
const seed = Number(process.env.RXETCD_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const kills = Number(process.env.RXETCD_CRASH_KILLS ?? 50);
// About 25 s on an idle 2-core machine; the limit keeps a loaded machine's run bounded (lanes stop at it).
const LIMIT_MS = 150_000;
const LANES = 3;
const WRITER = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));

interface Run {
  intents: Map<number, CrashOp>;
  acked: number;
  stderr: string;
  exit: NodeJS.Signals | number | null;
}

/**
 * Runs the writer and SIGKILLs it delayMs after its first acknowledgement, or, with earlyMs set,
 * earlyMs after its start whatever it is doing (creating or opening the WAL, first saves).
 */
function runAndKill(dir: string, childSeed: number, delayMs: number, earlyMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, String(childSeed)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run: Run = { intents: new Map(), acked: 0, stderr: "", exit: null };
    let buffered = "";
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill("SIGKILL"), earlyMs ?? 45_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const fields = line.split(" ");
        if (fields[0] === "I") run.intents.set(Number(fields[1]), parseOp(fields.slice(2)));
        else if (fields[0] === "A") {
          // Operations of one transaction may print their acknowledgements out of order.
          run.acked = Math.max(run.acked, Number(fields[1]));
          timer ??= setTimeout(() => child.kill("SIGKILL"), delayMs);
        }
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      run.stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      run.exit = signal ?? code;
      resolve(run);
    });
  });
}

/** Kills and checks one WAL directory `kills` times; returns counts for the summary. */
/** Set by the first lane that fails, so the others stop before the directories are removed. */
const stopAll = { failed: false };

async function crashLane(lane: number, kills: number, deadline: number) {
  try {
    return await runLane(lane, kills, deadline);
  } catch (error) {
    stopAll.failed = true;
    throw error;
  }
}

async function runLane(lane: number, kills: number, deadline: number) {
  const dir = join(tempDir(`rxetcd-wal-crash-${lane}-`), "member", "wal");
  const random = prng(seed + lane * 7919);
  const replay = `RXETCD_CRASH_SEED=${seed} node --import tsx --test test/wal/crash.test.ts`;
  let model = new LogModel();
  const counts = { kills: 0, acknowledged: 0, inFlightApplied: 0, partlySaved: 0, lastIndex: 0 };
  for (let k = 0; k < kills && Date.now() < deadline && !stopAll.failed; k++) {
    const delayMs = random() < 0.2 ? 0 : Math.floor(random() * 120);
    // One kill in ten lands during start-up: inside WAL.create or WAL.open's recovery.
    const earlyMs = random() < 0.1 ? 200 + Math.floor(random() * 700) : undefined;
    const run = await runAndKill(dir, seed + lane * 100_003 + k, delayMs, earlyMs);
    const when = earlyMs === undefined ? `${delayMs} ms after the first ack` : `${earlyMs} ms after start`;
    const context = `lane ${lane} kill ${k} (seed ${seed}, ${when}); replay: ${replay}`;
    assert.equal(
      run.exit,
      "SIGKILL",
      `writer ended on its own (${run.exit}): ${run.stderr.trim()} — ${context}`,
    );
    if (earlyMs === undefined) assert.ok(run.acked > 0, `writer acknowledged nothing — ${context}`);
    if (!WAL.exists(dir)) {
      assert.equal(run.acked, 0, `the WAL vanished after acknowledged writes — ${context}`);
      counts.kills++;
      continue;
    }

    const opened = await WAL.open(dir).catch((error: Error) => {
      throw new Error(`reopen failed after ${context}: ${error.message}`);
    });
    try {
      // Every acknowledged operation must be there; operations in flight may or may not be.
      let candidate = model.clone();
      for (let seq = 1; seq <= run.acked; seq++) candidate.apply(run.intents.get(seq)!);
      const reasons: string[] = [];
      let matched: LogModel | undefined;
      for (let seq = run.acked; ; seq++) {
        const why = differenceFromModel(opened, candidate);
        if (why === undefined) {
          matched = candidate;
          counts.inFlightApplied += seq - run.acked;
          break;
        }
        reasons.push(`after op ${seq}: ${why}`);
        const next = run.intents.get(seq + 1);
        if (next === undefined) break;
        // the next save cut short by the kill: some of its entries, not its hard state
        if (next.kind === "save") {
          // all its entries without its hard state differs from the whole save only if that changed
          const sameHardState = next.hsTerm === candidate.hsTerm && next.commit === candidate.commit;
          const upTo = sameHardState ? next.last - 1 : next.last;
          for (let last = next.first; last <= upTo && matched === undefined; last++) {
            const partial = partlySaved(candidate, next, last);
            if (differenceFromModel(opened, partial) === undefined) {
              matched = partial;
              counts.partlySaved++;
            }
          }
          if (matched !== undefined) break;
        }
        candidate = candidate.clone();
        candidate.apply(next);
      }
      if (matched === undefined) {
        // Keep the evidence: the directory survives the test's clean-up.
        const kept = join(tmpdir(), `rxetcd-wal-crash-failed-${seed}-${lane}-${k}`);
        cpSync(dir, kept, { recursive: true });
        rmSync(join(kept, "rxetcd.lock"), { force: true }); // held by this process's open handle
        const fresh = spawnSync(process.execPath, ["--import", "tsx", WRITER, kept, "read"], {
          encoding: "utf8",
        });
        const last = opened.entries.at(-1);
        const pending = [...run.intents.entries()]
          .filter(([seq]) => seq > run.acked - 3)
          .map(([seq, op]) => `${seq}: ${JSON.stringify(op)}`);
        assert.fail(
          `reopened WAL matches no acknowledged state — ${context}\n` +
            `read back: snapshot ${opened.snapshot?.metadata?.index ?? 0}, hard state ${opened.hardState.term}/${opened.hardState.commit}, ` +
            `entries ${opened.entries[0]?.index ?? "-"}..${last?.index ?? "-"} (last term ${last?.term ?? "-"}), first stored ${opened.wal.firstIndex()}\n` +
            `a fresh process reads: ${fresh.stdout.trim()}${fresh.stderr.trim()}\n` +
            `files: ${readdirSync(dir).join(" ")}\n` +
            `acknowledged up to ${run.acked}; operations around it:\n${pending.join("\n")}\n${reasons.join("\n")}\nkept in ${kept}`,
        );
      }
      model = matched;
      counts.acknowledged += run.acked;
    } finally {
      await opened.wal.close();
    }
    counts.kills++;
  }
  counts.lastIndex = model.lastIndex;
  return counts;
}

test(`WAL survives SIGKILL at ${kills} random moments (seed ${seed})`, { timeout: 200_000 }, async (t) => {
  const started = Date.now();
  // Independent directories in parallel: most of a round is process start-up, not disk.
  const perLane = Math.ceil(kills / LANES);
  const settled = await Promise.allSettled(
    Array.from({ length: LANES }, (_, lane) => crashLane(lane, perLane, started + LIMIT_MS)),
  );
  for (const result of settled) if (result.status === "rejected") throw result.reason;
  const lanes = settled.map(
    (result) => (result as PromiseFulfilledResult<Awaited<ReturnType<typeof runLane>>>).value,
  );
  const total = lanes.reduce((a, b) => ({
    kills: a.kills + b.kills,
    acknowledged: a.acknowledged + b.acknowledged,
    inFlightApplied: a.inFlightApplied + b.inFlightApplied,
    partlySaved: a.partlySaved + b.partlySaved,
    lastIndex: Math.max(a.lastIndex, b.lastIndex),
  }));
  t.diagnostic(
    `seed ${seed}: ${total.kills} kills in ${Date.now() - started} ms, ${total.acknowledged} acknowledged ` +
      `operations, ${total.inFlightApplied} unacknowledged ones found durable, ${total.partlySaved} cut short, ` +
      `highest index ${total.lastIndex}`,
  );
  // A loaded machine fits fewer kills in the limit (each is a process start); every kill that ran was
  // checked above. Fewer than a fifth means the writer itself stalls, which is a failure.
  const floor = Math.ceil(kills / 5);
  assert.ok(
    total.kills >= floor,
    `only ${total.kills} of ${kills} kills fit in ${LIMIT_MS} ms, fewer than ${floor} (seed ${seed})`,
  );
});
