// Entry point of the `rxetcd` command (bin/rxetcd.js and `npm start`).

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { debuglog } from "node:util";
import { loadWithCodeCache } from "./code-cache.js";
import { giveMemoryBackAfterBursts } from "./memory-after-bursts.js";
import { importOptional, type RunningServer, runCli, type StartServer } from "./run.js";
import { releaseStartUpFlags } from "./start-up-flags.js";

function pickStarter(name: string) {
  return (mod: Record<string, unknown>): StartServer | undefined => {
    const fn = mod[name];
    return typeof fn === "function" ? (fn as StartServer) : undefined;
  };
}

let serving = false;
const debugMemory = debuglog("rxetcd");
/** V8 as a serving member runs it: the start-up flags given back, memory given back after bursts. */
function setUpServing(): void {
  if (serving) return;
  serving = true;
  releaseStartUpFlags();
  // Only with RXETCD_GIVE_MEMORY_BACK=1 (see memory-after-bursts.ts for what it gives back): the
  // burst after a give-back runs slower. Measured in one build with the same 6 s gap before each
  // run, the 30,000 put-64 requests after a give-back took 15-35 % more CPU each than without it:
  // V8 optimized about 75 functions again (5-10 without), and old space, left a small limit, ran
  // about 5 full collections (0-2 without) while it regrew. NODE_DEBUG=rxetcd prints each give-back.
  if (process.env.RXETCD_GIVE_MEMORY_BACK !== "1") return;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  giveMemoryBackAfterBursts({
    onGiveBack: ({ young, old }) =>
      debugMemory(`giving memory back: young generation ${mib(young)}, old space ${mib(old)}`),
  });
}

/**
 * Sets V8 up for serving (start-up flags given back, see start-up-flags.ts; memory given back after
 * bursts, see memory-after-bursts.ts) once the server `start` starts serves, after `whenReady` when
 * one is given; gives the start-up flags back at once when it fails to start.
 */
function releasingStartUpFlags(
  start: StartServer,
  whenReady: (release: () => void) => void = (release) => release(),
): StartServer {
  return async (config, extras) => {
    let server: RunningServer;
    try {
      server = await start(config, extras);
    } catch (error) {
      releaseStartUpFlags();
      throw error;
    }
    void (server.ready ?? Promise.resolve()).then(
      () => whenReady(setUpServing),
      () => releaseStartUpFlags(),
    );
    return server;
  };
}

/**
 * The server's starter. A build also has the server as one CommonJS module (embed/index.vm.js), which
 * loads through V8's code cache (see code-cache.ts); its cache is written, when it has to be, once the
 * member is ready, so that it holds the code of a whole start. From sources, and for a build without
 * that file, the module is imported.
 */
async function loadServer(): Promise<StartServer | undefined> {
  const bundled = new URL("../embed/index.vm.js", import.meta.url);
  if (!existsSync(bundled)) {
    const start = await importOptional(
      new URL("../embed/index.js", import.meta.url),
      pickStarter("startEtcd"),
    );
    return start && releasingStartUpFlags(start);
  }
  const loaded = loadWithCodeCache(fileURLToPath(bundled));
  const start = pickStarter("startEtcd")(loaded.exports);
  if (!start) return start;
  if (loaded.cache === "used") return releasingStartUpFlags(start);
  // the cache is saved under the flags it was loaded with (V8 refuses a cache made under others)
  return releasingStartUpFlags(start, (release) =>
    setTimeout(() => {
      loaded.save();
      release();
    }, 1000).unref(),
  );
}

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};
async function snapshotCommand(argv: string[]): Promise<number> {
  const { runSnapshotCommand } = await import("./snapshot-command.js");
  const { restoreSnapshot } = await import("../embed/index.js");
  return runSnapshotCommand(argv, { ...io, restore: restoreSnapshot });
}

const code =
  process.argv[2] === "feed"
    ? await (await import("./feed-tail.js")).tailFeed(process.argv.slice(3), io)
    : process.argv[2] === "snapshot"
      ? await snapshotCommand(process.argv.slice(3))
      : await runCli(process.argv.slice(2), {
          stdout: (text) => process.stdout.write(text),
          stderr: (text) => process.stderr.write(text),
          env: process.env,
          loadServer,
          loadProxy: async () => {
            const start = await importOptional(
              new URL("../proxy/index.js", import.meta.url),
              pickStarter("startProxy"),
            );
            return start && releasingStartUpFlags(start);
          },
        });
process.exitCode = code;
// Handles left open by a closed server (sockets, timers) must not keep a finished command alive;
// the timer is unref'd so a command with nothing left open exits at once, output flushed.
setTimeout(() => process.exit(code), 1000).unref();
