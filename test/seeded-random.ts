/**
 * mulberry32: a small seeded generator of floats in [0, 1). Tests that draw random inputs take it from
 * here, so a failure replays from the seed it prints.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `body` with the seed from environment variable `env` (a fresh one when unset). Any failure,
 * an assertion or an exception, comes back with the seed and the line that replays it.
 */
export function withSeed<T>(env: string, file: string, body: (seed: number) => T): T {
  const fixed = process.env[env];
  const seed = fixed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fixed);
  try {
    return body(seed);
  } catch (err) {
    const replay = `seed ${seed}; replay: ${env}=${seed} node --import tsx --test ${file}`;
    if (err instanceof Error) {
      err.message = `${err.message}\n${replay}`;
      throw err;
    }
    throw new Error(`${String(err)}\n${replay}`);
  }
}

/**
 * fast-check parameters that replay a failure: fast-check prints `{ seed: S, path: "P" }` when a
 * property fails; `<env>=S <env>_PATH=P` runs that case again. Empty when the variables are unset.
 */
export function replayParameters(env: string): { seed?: number; path?: string } {
  const seed = process.env[env];
  if (seed === undefined) return {};
  const path = process.env[`${env}_PATH`];
  return path === undefined ? { seed: Number(seed) } : { seed: Number(seed), path };
}

/** Up to `max` random bytes. */
export function randomBytes(next: () => number, max: number): Buffer {
  const n = Math.floor(next() * (max + 1));
  return Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
}

/** A number across the varint boundaries (1, 2, ... 8 bytes), zero now and then. */
export function randomNumber(next: () => number): number {
  if (next() < 0.1) return 0;
  return Math.floor(next() * 2 ** Math.floor(next() * 54));
}
