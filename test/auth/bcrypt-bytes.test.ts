// bcrypt over bytes: the same hashes as bcryptjs for valid UTF-8 passwords (hashes already stored in data
// directories), and for any bytes the hashes Go's golang.org/x/crypto/bcrypt (which etcd 3.4 uses) wrote,
// including passwords over 72 bytes.
import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import fc from "fast-check";
import { bcryptHashSync, bcryptVerify } from "../../src/auth/bcrypt-bytes.js";

test("for valid UTF-8 passwords, bcryptjs and bcrypt over bytes accept each other's hashes", async () => {
  const seed = Number(process.env.BCRYPT_SEED ?? Date.now() % 1_000_000);
  const replay = `BCRYPT_SEED=${seed} node --import tsx --test test/auth/bcrypt-bytes.test.ts`;
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 40 }), fc.boolean(), async (password, ours) => {
      const bytes = Buffer.from(password, "utf8");
      const other = Buffer.concat([bytes, Buffer.from("!")]);
      if (ours) {
        const hash = bcryptHashSync(bytes, 4);
        assert.equal(await bcrypt.compare(password, hash), true, replay);
        // past 72 bytes of password (and its NUL) nothing counts, as in every bcrypt
        assert.equal(await bcrypt.compare(`${password}!`, hash), bytes.length >= 72, replay);
      } else {
        const hash = await bcrypt.hash(password, 4);
        assert.equal(await bcryptVerify(bytes, hash), true, replay);
        assert.equal(await bcryptVerify(other, hash), bytes.length >= 72, replay);
      }
    }),
    { seed, numRuns: 40 },
  );
});

/** Hashes written by Go's bcrypt.GenerateFromPassword (x/crypto 0.4.0, cost 4) for these password bytes. */
const GO_HASHES: Array<[string, string]> = [
  ["ff", "$2a$04$A9TZx8DJPgRNGixbzbMO3.3zsyX1EU9RshhoNvqpzo2zG2SyJmCwS"],
  ["fe", "$2a$04$Nw8bbEQyH/MNPUWxYJuAO.Mm9pvMnrZ3srHVB957.ll13nQmmV9O6"],
  ["", "$2a$04$a7PaoD4Hu5OJ5kz3DFBsbO42zd7u3xx8kq0AJwxVGLUNyK4MLJdCe"],
  ["ff".repeat(100), "$2a$04$g13o98KNq3cVarAvmnfHAeC.Lzle2WEWsrE0EvMhxjinmWhN3ivgq"],
  ["70ff77", "$2a$04$MbDhV8mX/G2QFl4Btfd.tehv0.D3rByb5mJQNfQog2W8F7/BVkh9y"],
  ["c3", "$2a$04$wH2vlwbAt6DPB1HLLnymzeEDz3xe5/hBi.nM3R.fnDzNtikk06.hG"],
];

test("Go's hashes of passwords that are not UTF-8 match exactly their bytes", async () => {
  for (const [hex, hash] of GO_HASHES) {
    const bytes = Buffer.from(hex, "hex");
    assert.equal(await bcryptVerify(bytes, hash), true, hex);
    for (const [otherHex] of GO_HASHES) {
      if (otherHex !== hex)
        assert.equal(await bcryptVerify(Buffer.from(otherHex, "hex"), hash), false, `${otherHex} vs ${hex}`);
    }
    // what a UTF-8 decoding would have made of them
    if (!Buffer.from(bytes.toString("utf8")).equals(bytes))
      assert.equal(await bcryptVerify(Buffer.from(bytes.toString("utf8")), hash), false, hex);
  }
  // Go neither refuses nor truncates a long password itself: bcrypt uses its first 72 bytes
  const long = GO_HASHES[3][1];
  assert.equal(await bcryptVerify(Buffer.alloc(72, 0xff), long), true);
  assert.equal(await bcryptVerify(Buffer.alloc(71, 0xff), long), false);
  assert.equal(await bcryptVerify(Buffer.alloc(200, 0xff), long), true);
});

test("a hash that Go's bcrypt would refuse matches nothing", async () => {
  const good = GO_HASHES[0][1];
  for (const bad of [
    "",
    "x",
    good.slice(0, -1),
    good.replace("$04$", "$03$"),
    good.replace("$04$", "$32$"),
    `${good}x`,
  ])
    assert.equal(await bcryptVerify(Buffer.from("ff", "hex"), bad), false, bad);
});
