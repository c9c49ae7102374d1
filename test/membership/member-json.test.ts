import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeMemberJson,
  decodeMemberListJson,
  encodeMemberJson,
  encodeMemberListJson,
  goQuote,
  MemberJsonError,
} from "../../src/membership/member-json.js";

test("a /members answer as etcd 3.4.23 writes it decodes without losing id digits and encodes back byte for byte", () => {
  const observed =
    '[{"id":6090535317558273548,"peerURLs":["http://127.0.0.1:23801"],"name":"n1","clientURLs":["http://127.0.0.1:23791"]}]';
  const members = decodeMemberListJson(observed);
  assert.equal(members[0].id, 6090535317558273548n);
  assert.equal(encodeMemberListJson(members), observed);
});

test("ids above 2^63 keep every digit", () => {
  const text = '{"id":11477272550153631530,"peerURLs":["http://a:1"]}';
  const m = decodeMemberJson(text);
  assert.equal(m.id, 11477272550153631530n);
  assert.equal(encodeMemberJson(m), text);
});

test("conf change contexts in etcd's key order", () => {
  assert.equal(
    encodeMemberJson({ id: 10n, peerURLs: ["http://x:2380"], isLearner: true }),
    '{"id":10,"peerURLs":["http://x:2380"],"isLearner":true}',
  );
  assert.equal(
    encodeMemberJson({ id: 10n, peerURLs: null, isPromote: true }),
    '{"id":10,"peerURLs":null,"isPromote":true}',
  );
  assert.equal(
    encodeMemberJson({ id: 1n, peerURLs: ["u"], name: "a", clientURLs: [] }),
    '{"id":1,"peerURLs":["u"],"name":"a"}',
  );
});

test("the list is sorted by id, as etcd sorts it", () => {
  const text = encodeMemberListJson([
    { id: 3n, peerURLs: ["c"] },
    { id: 1n, peerURLs: ["a"] },
  ]);
  assert.deepEqual(
    decodeMemberListJson(text).map((m) => m.id),
    [1n, 3n],
  );
});

test("Go's HTML-safe escaping of names", () => {
  assert.equal(goQuote("a<b>&\u2028\b\f"), '"a\\u003cb\\u003e\\u0026\\u2028\\u0008\\u000c"');
});

test("bad documents are refused with one clear error", () => {
  assert.throws(() => decodeMemberJson("{"), MemberJsonError);
  assert.throws(() => decodeMemberJson('{"id":-1,"peerURLs":[]}'), /invalid member field id/);
  assert.throws(() => decodeMemberJson('{"id":18446744073709551616,"peerURLs":[]}'), /field id/);
  assert.throws(() => decodeMemberJson('{"id":1.5,"peerURLs":[]}'), /field id/);
  assert.throws(() => decodeMemberJson('{"id":1,"peerURLs":[1]}'), /peerURLs/);
  assert.throws(() => decodeMemberListJson('{"id":1}'), /expected a JSON array/);
});
