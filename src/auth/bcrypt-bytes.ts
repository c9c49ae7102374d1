// bcrypt over the password's bytes, as Go's golang.org/x/crypto/bcrypt computes it (and so etcd 3.4):
// the key is the password followed by one NUL byte, so only its first 72 bytes count and nothing is
// refused for being longer. @node-rs/bcrypt takes bytes (bcryptjs takes only strings, UTF-8-encoded,
// which cannot carry a password that is not valid UTF-8) and runs the async forms on libuv's thread
// pool, off the event loop. It reads $2a$ (Go's), $2b$ (bcryptjs's, and its own) and $2y$ hashes.
import { createRequire } from "node:module";
import type * as Bcrypt from "@node-rs/bcrypt";

// The native library is loaded at the first hash or check: a member without auth never needs it, and
// loading it (its shared object, the symbols it binds in node) added about 1.5 MB to an idle member.
const requireHere = createRequire(import.meta.url);
let library: typeof Bcrypt | undefined;
const bcrypt = () => (library ??= requireHere("@node-rs/bcrypt") as typeof Bcrypt);

/** The bytes bcrypt uses of a password: the library truncates too, this keeps Go's rule explicit. */
const KEY_BYTES = 72;

function key(password: Uint8Array): Uint8Array {
  return password.length > KEY_BYTES ? password.subarray(0, KEY_BYTES) : password;
}

/** A new encoded hash ("$2b$" form) of `password` at `cost`, computed off the event loop. */
export function bcryptHash(password: Uint8Array, cost: number): Promise<string> {
  return bcrypt().hash(key(password), cost);
}

/** The same, blocking. */
export function bcryptHashSync(password: Uint8Array, cost: number): string {
  return bcrypt().hashSync(key(password), cost);
}

/** Whether `password` matches the encoded `hash`; false for a hash that is not one. */
export async function bcryptVerify(password: Uint8Array, encoded: string): Promise<boolean> {
  try {
    return await bcrypt().verify(key(password), encoded);
  } catch {
    return false;
  }
}
