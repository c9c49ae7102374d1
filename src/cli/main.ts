// Entry point of the `rxetcd` command (bin/rxetcd.js and `npm start`): the feed and snapshot
// subcommands here, the rest in command.ts.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadWithCodeCache } from "./code-cache.js";
import type { runCommand } from "./command.js";

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};
async function snapshotCommand(argv: string[]): Promise<number> {
  const { runSnapshotCommand } = await import("./snapshot-command.js");
  const { restoreSnapshot } = await import("../embed/index.js");
  return runSnapshotCommand(argv, { ...io, restore: restoreSnapshot });
}

/**
 * command.ts, with the server. A build also has it as one CommonJS module (cli/command.vm.js), which
 * loads through V8's code cache (see code-cache.ts): ES modules have none on Node 20, and a start
 * compiled the ~250 kB of them the command ran before the server (its flags, its logger), built node's
 * facades of the builtins they import, and kept their text and module records for its whole life,
 * besides a second copy of the flags' code, which the server uses too. Its cache is written, when it
 * has to be, once the member is ready, so that it holds the code of a whole start. --help and
 * --version start no member and take the ES modules; so do the sources and a build without the file.
 */
async function command(argv: string[]): Promise<number> {
  const bundled = new URL("./command.vm.js", import.meta.url);
  const startsNothing = argv.some((a) => /^--?(help|h|version)$/.test(a));
  if (startsNothing || !existsSync(bundled)) return (await import("./command.js")).runCommand(argv);
  const loaded = loadWithCodeCache(fileURLToPath(bundled));
  const run = loaded.exports.runCommand as typeof runCommand;
  return run(argv, loaded.cache === "used" ? {} : { saveCodeCache: () => loaded.save() });
}

const code =
  process.argv[2] === "feed"
    ? await (await import("./feed-tail.js")).tailFeed(process.argv.slice(3), io)
    : process.argv[2] === "snapshot"
      ? await snapshotCommand(process.argv.slice(3))
      : await command(process.argv.slice(2));
process.exitCode = code;
// Handles left open by a closed server (sockets, timers) must not keep a finished command alive;
// the timer is unref'd so a command with nothing left open exits at once, output flushed.
setTimeout(() => process.exit(code), 1000).unref();
