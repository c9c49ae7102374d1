// The V8 flags bin/rxetcd.js sets before the command's own code runs (after loading node's modules
// a member needs, which would otherwise miss node's built-in code cache), given back once the member
// serves. A start runs a great deal of code once and allocates as it goes, and two of V8's defaults leave a
// member that then sits idle holding memory it only needed for that:
// - the young generation doubles its semi-spaces whenever most of a scavenged space survives, which
//   is what loading a server looks like: it grows from 1 to 8 MiB per semi-space during a start and
//   stays there, about 5 MiB of it resident;
// - start-up code runs often enough for TurboFan to optimize some of it, which pages in the part of
//   the node binary holding its compiler: about 3.5 MiB that an idle member never runs again.
// Held, the young generation keeps its initial size and nothing is compiled past Sparkplug (start-up
// CPU measured the same). Released, TurboFan is on again, and the young generation grows under load in
// one step to its maximum (16 MiB per semi-space) instead of V8's doubling: V8 grows it only once as
// many bytes survived scavenges as it holds, and doubling from 1 MiB took a member about 12,500 puts
// of one client to reach the maximum, scavenging every 30-260 puts (up to 1 ms each on two busy cores)
// and promoting what lived a few hundred ms. In one step it got there after about 4,600, and the 3,000
// puts after a 5,000-put warm-up scavenged 6 times instead of 9-13. An idle member still holds its
// initial size: growth needs work. (--turbofan, not --max-opt: a lowered --max-opt turns --turbofan
// off, and raising it again does not turn it back on.)
// The third pair is the same both ways, set here for the process's life: V8 gives a function its
// type feedback only after it has run a while, so what a member's first client connection did once
// (its preface and SETTINGS, the client's opening Get, the socket's early shapes in Node's stream
// code) left no trace in the functions TurboFan then optimized on that connection's puts, and the next
// connection's own first steps deoptimized 16-23 of them (the header path, the unary call's decode and
// answer framing, the socket's stream functions), slowing the puts after them until they were
// optimized again. With feedback from a function's first call, the second connection deoptimized none
// in 4 of 5 starts (put with one client; in the fifth, 8 functions of the socket's write path on a
// socket of another shape; set only once the member served, 0-12: Node's stream code had run before).
// The start measured the same idle memory (71-74 MiB) and about 10 % more CPU.
import v8 from "node:v8";

/** Where bin/rxetcd.js leaves the flags it set: [held, released] pairs of V8 flags. */
export const START_UP_FLAGS = Symbol.for("rxetcd.startUpFlags");

type FlagPairs = readonly (readonly [string, string])[];

function isFlagPairs(value: unknown): value is FlagPairs {
  return (
    Array.isArray(value) &&
    value.every(
      (pair) =>
        Array.isArray(pair) &&
        pair.length === 2 &&
        pair.every((flag) => typeof flag === "string" && flag.startsWith("--")),
    )
  );
}

/**
 * Sets V8's released values of the start-up flags; does nothing when none are held (a command not
 * started through bin/rxetcd.js) or after the first call. V8 refuses a code cache made under other
 * flags: a cache loaded while they were held must be saved before this.
 */
export function releaseStartUpFlags(): void {
  const global = globalThis as Record<symbol, unknown>;
  const pairs = global[START_UP_FLAGS];
  if (!isFlagPairs(pairs)) return;
  delete global[START_UP_FLAGS];
  for (const [, released] of pairs) v8.setFlagsFromString(released);
}
