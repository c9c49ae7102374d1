// The `rxetcd` command but its feed and snapshot subcommands: flags, --help and --version, then a member
// or the v2 proxy (run.ts). A build runs it from one CommonJS file with the server in it, through V8's
// code cache (see main.ts); from sources it is imported.

import { debuglog } from "node:util";
import { giveMemoryBackAfterBursts } from "./memory-after-bursts.js";
import { type RunningServer, runCli, type StartServer } from "./run.js";
import { releaseStartUpFlags } from "./start-up-flags.js";
import { type FlagPair, holdUntilBusy } from "./until-busy.js";

export interface CommandOptions {
  /**
   * Writes the code cache of the file the command was loaded from, when it has to be written: called
   * once the member serves, so that the cache holds the code of a whole start, and before the start-up
   * flags are given back (V8 refuses a cache made under other flags).
   */
  saveCodeCache?: () => void;
}

/** The command gives memory back after this many quiet seconds in a row. */
const COMMAND_QUIET_LOOKS = 30;

/** The released values are the start-up flags' (bin/rxetcd.js). */
const NO_TURBOFAN_UNTIL_BUSY: FlagPair = ["--no-turbofan", "--turbofan"];
const YOUNG_GROWTH_UNTIL_BUSY: FlagPair = ["--semi-space-growth-factor=1", "--semi-space-growth-factor=16"];

let serving = false;
const debugMemory = debuglog("rxetcd");
/** V8 as a serving member runs it: the start-up flags given back, memory given back after bursts. */
function setUpServing(): void {
  if (serving) return;
  serving = true;
  releaseStartUpFlags();
  // TurboFan and the young generation's growth wait for work (see until-busy.ts); the growth again
  // after each give-back
  const untilBusy = holdUntilBusy([NO_TURBOFAN_UNTIL_BUSY, YOUNG_GROWTH_UNTIL_BUSY]);
  // On unless RXETCD_GIVE_MEMORY_BACK=0 (see memory-after-bursts.ts for what it gives back), after
  // 30 quiet seconds in a row: the burst after a give-back runs slower. Measured in one build with the
  // same 6 s gap before each run, the 30,000 put-64 requests after a give-back took 15-35 % more CPU
  // each than without it: V8 optimized about 75 functions again (5-10 without), and old space, left a
  // small limit, ran about 5 full collections (0-2 without) while it regrew. Paid once per 30 s of
  // quiet, that is what a member idle between bursts trades for holding tens of MB less (after a
  // round of hostile input, see test/e2e/hostile.test.ts); the pauses between the runs of a benchmark
  // are far shorter. NODE_DEBUG=rxetcd prints each give-back.
  if (process.env.RXETCD_GIVE_MEMORY_BACK === "0") return;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  giveMemoryBackAfterBursts({
    quietLooks: COMMAND_QUIET_LOOKS,
    onGiveBack: ({ young, old }) => {
      debugMemory(`giving memory back: young generation ${mib(young)}, old space ${mib(old)}`);
      untilBusy.hold([YOUNG_GROWTH_UNTIL_BUSY]);
    },
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

/** Runs the command; resolves to the process exit code. */
export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<number> {
  const { saveCodeCache } = options;
  return runCli(argv, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    loadServer: async () => {
      const { startEtcd } = await import("../embed/index.js");
      if (!saveCodeCache) return releasingStartUpFlags(startEtcd);
      return releasingStartUpFlags(startEtcd, (release) =>
        setTimeout(() => {
          saveCodeCache();
          release();
        }, 1000).unref(),
      );
    },
    loadProxy: async () => releasingStartUpFlags((await import("../proxy/index.js")).startProxy),
  });
}
