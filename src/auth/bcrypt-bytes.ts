// bcrypt over the password's bytes, as Go's golang.org/x/crypto/bcrypt computes it (and so etcd 3.4):
// the key is the password followed by one NUL byte, used cyclically, so only its first 72 bytes count
// and nothing is refused for being longer. bcryptjs takes only strings and UTF-8-encodes them, which
// cannot carry a password that is not valid UTF-8; for valid UTF-8 both give the same hash (same salt).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { decodeBase64, encodeBase64 } from "bcryptjs";
import { PI_WORDS } from "./blowfish-pi.js";

const SALT_BYTES = 16;
/** The hash part of an encoded hash: 23 of the 24 ciphertext bytes, as Go and OpenBSD keep. */
const HASH_BYTES = 23;
/** "OrpheanBeholderScryDoubt", big-endian words. */
const MAGIC = [0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274];
/** Key-schedule rounds run between two yields to the event loop in the async form. */
const ROUNDS_PER_SLICE = 32;

/** Blowfish state, one array: P (words 0..17), then the four S-boxes (256 words each). */
const S0 = 18;
const S1 = S0 + 256;
const S2 = S1 + 256;
const S3 = S2 + 256;
const STATE_WORDS = S3 + 256;

/** `count` words of `bytes` taken cyclically, big-endian. */
function cyclicWords(bytes: Uint8Array, count: number): Int32Array {
  const words = new Int32Array(count);
  let j = 0;
  for (let i = 0; i < count; i++) {
    let w = 0;
    for (let k = 0; k < 4; k++) {
      w = (w << 8) | bytes[j];
      j = j + 1 === bytes.length ? 0 : j + 1;
    }
    words[i] = w;
  }
  return words;
}

/** Enciphers the block lr[0], lr[1] in place (used only to finish; the key schedule inlines it). */
function encipher(st: Int32Array, lr: Int32Array): void {
  let l = lr[0] ^ st[0];
  let r = lr[1];
  for (let i = 1; i < 17; i += 2) {
    r ^=
      (((st[S0 + (l >>> 24)] + st[S1 + ((l >>> 16) & 0xff)]) ^ st[S2 + ((l >>> 8) & 0xff)]) +
        st[S3 + (l & 0xff)]) ^
      st[i];
    l ^=
      (((st[S0 + (r >>> 24)] + st[S1 + ((r >>> 16) & 0xff)]) ^ st[S2 + ((r >>> 8) & 0xff)]) +
        st[S3 + (r & 0xff)]) ^
      st[i + 1];
  }
  lr[0] = r ^ st[17];
  lr[1] = l;
}

/**
 * XORs the key words into P, then replaces P and the S-boxes, in order, by enciphering a running
 * block, each block first XORed with the next two salt words when there is a salt (bcrypt's ExpandKey).
 */
function expandKey(st: Int32Array, keyWords: Int32Array, saltWords: Int32Array | undefined): void {
  for (let i = 0; i < 18; i++) st[i] ^= keyWords[i];
  let a = 0;
  let b = 0;
  let j = 0;
  for (let i = 0; i < STATE_WORDS; i += 2) {
    if (saltWords !== undefined) {
      a ^= saltWords[j];
      b ^= saltWords[j + 1];
      j ^= 2;
    }
    let l = a ^ st[0];
    let r = b;
    for (let k = 1; k < 17; k += 2) {
      r ^=
        (((st[S0 + (l >>> 24)] + st[S1 + ((l >>> 16) & 0xff)]) ^ st[S2 + ((l >>> 8) & 0xff)]) +
          st[S3 + (l & 0xff)]) ^
        st[k];
      l ^=
        (((st[S0 + (r >>> 24)] + st[S1 + ((r >>> 16) & 0xff)]) ^ st[S2 + ((r >>> 8) & 0xff)]) +
          st[S3 + (r & 0xff)]) ^
        st[k + 1];
    }
    a = r ^ st[17];
    b = l;
    st[i] = a;
    st[i + 1] = b;
  }
}

/** The setup of one hash: the state after the salted expansion, and the words each round uses. */
function setup(password: Uint8Array, salt: Uint8Array) {
  const key = new Uint8Array(password.length + 1);
  key.set(password);
  const keyWords = cyclicWords(key, 18);
  const saltAsKey = cyclicWords(salt, 18);
  const st = Int32Array.from(PI_WORDS);
  expandKey(st, keyWords, cyclicWords(salt, 4));
  return { st, keyWords, saltAsKey };
}

function finish(st: Int32Array): Uint8Array {
  const block = Int32Array.from(MAGIC);
  const lr = new Int32Array(2);
  for (let n = 0; n < 64; n++) {
    for (let i = 0; i < 6; i += 2) {
      lr[0] = block[i];
      lr[1] = block[i + 1];
      encipher(st, lr);
      block[i] = lr[0];
      block[i + 1] = lr[1];
    }
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeInt32BE(block[i], i * 4);
  return out.subarray(0, HASH_BYTES);
}

/** The raw 23 hash bytes of `password` with a 16-byte `salt` at `cost`, blocking. */
export function bcryptRawSync(password: Uint8Array, salt: Uint8Array, cost: number): Uint8Array {
  const { st, keyWords, saltAsKey } = setup(password, salt);
  for (let i = 2 ** cost; i > 0; i--) {
    expandKey(st, keyWords, undefined);
    expandKey(st, saltAsKey, undefined);
  }
  return finish(st);
}

/** The same, yielding to the event loop every few rounds so other work keeps running. */
export async function bcryptRaw(password: Uint8Array, salt: Uint8Array, cost: number): Promise<Uint8Array> {
  const { st, keyWords, saltAsKey } = setup(password, salt);
  for (let i = 2 ** cost; i > 0; ) {
    for (let n = Math.min(i, ROUNDS_PER_SLICE); n > 0; n--, i--) {
      expandKey(st, keyWords, undefined);
      expandKey(st, saltAsKey, undefined);
    }
    if (i > 0) await yieldToLoop();
  }
  return finish(st);
}

function encoded(cost: number, salt: Uint8Array, raw: Uint8Array): string {
  const c = cost < 10 ? `0${cost}` : `${cost}`;
  return `$2b$${c}$${encodeBase64(salt, SALT_BYTES)}${encodeBase64(raw, HASH_BYTES)}`;
}

/** A new encoded hash ("$2b$" form, as bcryptjs writes) of `password` at `cost`. */
export async function bcryptHash(password: Uint8Array, cost: number): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return encoded(cost, salt, await bcryptRaw(password, salt, cost));
}

/** The same, blocking. */
export function bcryptHashSync(password: Uint8Array, cost: number): string {
  const salt = randomBytes(SALT_BYTES);
  return encoded(cost, salt, bcryptRawSync(password, salt, cost));
}

/** The cost and salt of an encoded hash, or undefined when Go's bcrypt would refuse it. */
function parse(hash: string): { cost: number; salt: Uint8Array; hashPart: string } | undefined {
  // $2$ or $2<minor>$, two cost digits, $, 22 salt characters, 31 hash characters
  const m = /^\$2[^$]?\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(hash);
  if (!m) return undefined;
  const cost = Number(m[1]);
  if (cost < 4 || cost > 31) return undefined;
  const salt = Uint8Array.from(decodeBase64(m[2], SALT_BYTES));
  if (salt.length !== SALT_BYTES) return undefined;
  return { cost, salt, hashPart: m[3] };
}

/** Whether `password` matches the encoded `hash`; false for a hash that is not one. */
export async function bcryptVerify(password: Uint8Array, hash: string): Promise<boolean> {
  const h = parse(hash);
  if (!h) return false;
  const got = Buffer.from(encodeBase64(await bcryptRaw(password, h.salt, h.cost), HASH_BYTES), "latin1");
  const want = Buffer.from(h.hashPart, "latin1");
  return got.length === want.length && timingSafeEqual(got, want);
}
