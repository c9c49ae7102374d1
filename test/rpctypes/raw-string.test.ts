// Strings of field bytes that are not UTF-8: the decoding keeps the bytes (distinct bytes, distinct
// strings; the encoding gives the bytes back), escapes one byte at a time where no valid sequence
// starts (Go's rule, so the gateway writes as many `\ufffd` as etcd's), and the generated codecs
// of the auth messages carry them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { User } from "../../src/gen/authpb/auth.js";
import { InternalRaftRequest } from "../../src/gen/etcdserverpb/raft_internal.js";
import { AuthUserAddRequest, AuthUserListResponse } from "../../src/gen/etcdserverpb/rpc.js";
import {
  compareRawStrings,
  decodeRawString,
  encodeRawString,
  goJsonBytes,
  goJsonText,
  rawStringByteLength,
} from "../../src/rpctypes/raw-string.js";
import { mulberry32, withSeed } from "../seeded-random.js";

const hex = (s: string) => Buffer.from(s.replace(/ /g, ""), "hex");

test("UTF-8 decodes as UTF-8; each byte outside a valid sequence is one escape", () => {
  assert.equal(decodeRawString(Buffer.from("héllo ✓ 𝄞")), "héllo ✓ 𝄞");
  assert.equal(decodeRawString(hex("61 ef bf bd 62")), "a\u{fffd}b");
  assert.equal(decodeRawString(hex("61 ff 62")), "a\udcffb");
  // a sequence cut short: each of its bytes (Go's utf8 decodes one byte at a time)
  assert.equal(decodeRawString(hex("e2 82 41")), "\udce2\udc82A");
  // UTF-8 of a surrogate, and an overlong form, are no valid sequences
  assert.equal(decodeRawString(hex("ed a0 80")), "\udced\udca0\udc80");
  assert.equal(decodeRawString(hex("c0 af")), "\udcc0\udcaf");
  assert.equal(decodeRawString(hex("f4 90 80 80")), "\udcf4\udc90\udc80\udc80");
  assert.equal(goJsonText("a\udcffb"), "a\u{fffd}b");
  assert.equal(
    goJsonBytes(JSON.stringify(["a\udcffb", "\\udcff", "\u{fffd}"])),
    '["a\\ufffdb","\\\\udcff","\u{fffd}"]',
  );
  assert.equal(rawStringByteLength("a\udcffb"), 3);
  assert.equal(rawStringByteLength("é"), 2);
  // a lone surrogate that is no escape of a byte is written as UTF-8 encoders write it
  assert.deepEqual(encodeRawString("\ud800x"), hex("ef bf bd 78"));
});

test("random bytes decode to strings that encode back to them, distinct for distinct bytes", () => {
  withSeed("RAW_STRING_SEED", "test/rpctypes/raw-string.test.ts", (seed) => {
    const random = mulberry32(seed);
    const seen = new Map<string, string>();
    // bytes near UTF-8's boundaries, so that valid and invalid sequences both come up
    const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef];
    pool.push(0xf0, 0xf4, 0xf5, 0xff);
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.from(
        Array.from({ length: Math.floor(random() * 8) }, () => pool[Math.floor(random() * pool.length)]),
      );
      const text = decodeRawString(bytes);
      assert.deepEqual(encodeRawString(text), bytes, bytes.toString("hex"));
      assert.equal(rawStringByteLength(text), bytes.length);
      const other = seen.get(text);
      if (other !== undefined) assert.equal(other, bytes.toString("hex"));
      seen.set(text, bytes.toString("hex"));
      // escapes stand for bytes only where the bytes are not UTF-8
      if (Buffer.from(bytes.toString("utf8")).equals(bytes)) assert.equal(text, bytes.toString("utf8"));
    }
    const names = [...seen.keys()];
    names.sort(compareRawStrings);
    for (let i = 1; i < names.length; i++)
      assert.ok(Buffer.compare(encodeRawString(names[i - 1]), encodeRawString(names[i])) < 0);
  });
});

test("the auth messages' codecs carry names as the bytes sent", () => {
  const add = AuthUserAddRequest.decode(Buffer.concat([hex("0a 03 61 ff 62"), hex("12 01 70")]));
  assert.equal(add.name, "a\udcffb");
  assert.deepEqual(Buffer.from(AuthUserAddRequest.encode(add).finish()), hex("0a 03 61 ff 62 12 01 70"));
  const entry = InternalRaftRequest.decode(
    InternalRaftRequest.encode(
      InternalRaftRequest.fromPartial({
        header: { ID: 1n, username: "a\udcffb", authRevision: 2 },
        authUserGrantRole: { user: "a\udcffb", role: "r\udc80" },
      }),
    ).finish(),
  );
  assert.equal(entry.header?.username, "a\udcffb");
  assert.deepEqual(entry.authUserGrantRole, { user: "a\udcffb", role: "r\udc80" });
  const user = User.decode(
    User.encode({
      name: hex("61 ff 62"),
      password: Buffer.alloc(0),
      roles: ["r\udcff", "r\u{fffd}"],
      options: undefined,
    }).finish(),
  );
  assert.deepEqual(user.roles, ["r\udcff", "r\u{fffd}"]);
  const list = AuthUserListResponse.encode({ header: undefined, users: ["a\udcffb"] }).finish();
  assert.deepEqual(Buffer.from(list), hex("12 03 61 ff 62"));
});
