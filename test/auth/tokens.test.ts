// Token providers: simple tokens (expiry, reset on use, bound), JWTs (every method family, verify-only
// keys, forged and expired tokens), and --auth-token option parsing with etcd's errors.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { AuthErrors } from "../../src/auth/errors.js";
import { createTokenProvider, JwtTokenProvider, SimpleTokenProvider } from "../../src/auth/index.js";

const pem = (
  k: { export(o: { type: "pkcs8" | "spki"; format: "pem" }): string | Buffer },
  type: "pkcs8" | "spki",
) => Buffer.from(k.export({ type, format: "pem" }));

describe("simple tokens", () => {
  test("a token lives --auth-token-ttl after its last use, and waits for its entry to be applied", async () => {
    let now = 1_000;
    let applied = 10;
    const p = new SimpleTokenProvider({
      ttlMs: 300,
      appliedIndex: () => applied,
      waitApplied: async () => {},
      applyWaitMs: 50,
      now: () => now,
    });
    p.enable();
    const t = p.assign("u", 3, { index: 10, prefix: p.genTokenPrefix() });
    assert.match(t, /^[a-zA-Z]{16}\.10$/);
    assert.deepEqual(
      p.info(t, 7),
      { username: "u", revision: 7 },
      "simple tokens speak for the current revision",
    );
    now += 250;
    assert.ok(p.info(t, 7), "use restarts the time");
    now += 250;
    assert.ok(p.info(t, 7));
    now += 301;
    assert.equal(p.info(t, 7), undefined, "expired");
    // a token from an entry not applied here yet waits (bounded), then counts
    const later = p.assign("v", 3, { index: 12, prefix: "abcdefghijklmnop" });
    const waiting = p.info(later, 7);
    assert.ok(waiting instanceof Promise);
    applied = 12;
    assert.deepEqual(await waiting, { username: "v", revision: 7 });
    assert.equal(p.info("no-dot", 7), undefined);
    assert.equal(p.info("a.b.c", 7), undefined);
    p.invalidateUser("v");
    assert.equal(p.info(later, 7), undefined);
    p.disable();
    assert.equal(p.size, 0);
  });
});

describe("JWT tokens", () => {
  const families: Array<[string, () => { privateKey: Buffer; publicKey: Buffer }]> = [
    [
      "RS256",
      () => {
        const k = generateKeyPairSync("rsa", { modulusLength: 2048 });
        return { privateKey: pem(k.privateKey, "pkcs8"), publicKey: pem(k.publicKey, "spki") };
      },
    ],
    [
      "PS384",
      () => {
        const k = generateKeyPairSync("rsa", { modulusLength: 2048 });
        return { privateKey: pem(k.privateKey, "pkcs8"), publicKey: pem(k.publicKey, "spki") };
      },
    ],
    [
      "ES256",
      () => {
        const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
        return { privateKey: pem(k.privateKey, "pkcs8"), publicKey: pem(k.publicKey, "spki") };
      },
    ],
    [
      "HS512",
      () => ({ privateKey: Buffer.from("a shared secret of some length"), publicKey: Buffer.alloc(0) }),
    ],
  ];
  for (const [method, keys] of families) {
    test(`${method}: claims {exp, revision, username}; forged, expired and other-key tokens are refused`, () => {
      let now = 1_700_000_000_000;
      const k = keys();
      const p = new JwtTokenProvider({ signMethod: method as "RS256", ttlMs: 60_000, ...k, now: () => now });
      const token = p.assign("alice", 42);
      const [h, c] = token
        .split(".")
        .slice(0, 2)
        .map((x) => JSON.parse(Buffer.from(x, "base64url").toString()));
      assert.deepEqual(h, { alg: method, typ: "JWT" });
      assert.deepEqual(c, { exp: Math.floor((now + 60_000) / 1000), revision: 42, username: "alice" });
      assert.deepEqual(p.info(token), { username: "alice", revision: 42 });
      const parts = token.split(".");
      const tampered = `${parts[0]}.${Buffer.from(JSON.stringify({ ...c, username: "root" })).toString("base64url")}.${parts[2]}`;
      assert.equal(p.info(tampered), undefined);
      const other = new JwtTokenProvider({ signMethod: method as "RS256", ttlMs: 60_000, ...keys() });
      assert.equal(other.info(token), undefined, "signed with another key");
      now += 61_000;
      assert.equal(p.info(token), undefined, "expired");
    });
  }

  test("a public key alone verifies and refuses to sign; mismatched keys are refused at start", () => {
    const a = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const b = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const signer = new JwtTokenProvider({
      signMethod: "RS256",
      ttlMs: 60_000,
      privateKey: pem(a.privateKey, "pkcs8"),
    });
    const verifier = new JwtTokenProvider({
      signMethod: "RS256",
      ttlMs: 60_000,
      publicKey: pem(a.publicKey, "spki"),
    });
    assert.equal(verifier.verifyOnly, true);
    assert.deepEqual(verifier.info(signer.assign("u", 1)), { username: "u", revision: 1 });
    assert.throws(() => verifier.assign("u", 1), AuthErrors.VerifyOnly);
    assert.throws(
      () =>
        new JwtTokenProvider({
          signMethod: "RS256",
          ttlMs: 1,
          privateKey: pem(a.privateKey, "pkcs8"),
          publicKey: pem(b.publicKey, "spki"),
        }),
      /auth: public and private keys don't match/,
    );
    assert.throws(() => new JwtTokenProvider({ signMethod: "RS256", ttlMs: 1 }), /auth: missing key data/);
  });
});

describe("--auth-token", () => {
  const deps = (files: Record<string, Buffer> = {}) => ({
    simple: { ttlMs: 1000, appliedIndex: () => 0, waitApplied: async () => {}, applyWaitMs: 10 },
    readFile: (path: string) => {
      const f = files[path];
      if (!f) throw new Error("no such file");
      return f;
    },
    parseDurationMs: (t: string) => (t === "10m" ? 600_000 : undefined),
  });
  const spec = (type: string, o: Record<string, string> = {}) => ({
    type,
    options: new Map(Object.entries(o)),
  });

  test("simple, none and jwt; bad methods, ttls, files and types fail with etcd's error", () => {
    assert.equal(createTokenProvider(spec("simple"), deps()).kind, "simple");
    assert.equal(createTokenProvider(spec(""), deps()).kind, "none");
    const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const files = { "/k": pem(k.privateKey, "pkcs8") };
    const jwt = createTokenProvider(
      spec("jwt", { "sign-method": "ES256", "priv-key": "/k", ttl: "10m" }),
      deps(files),
    );
    assert.equal(jwt.kind, "jwt");
    assert.throws(
      () => createTokenProvider(spec("jwt", { "sign-method": "XX1", "priv-key": "/k" }), deps(files)),
      /auth: invalid auth options/,
    );
    assert.throws(
      () =>
        createTokenProvider(
          spec("jwt", { "sign-method": "ES256", "priv-key": "/k", ttl: "soon" }),
          deps(files),
        ),
      /auth: invalid auth options/,
    );
    assert.throws(
      () => createTokenProvider(spec("jwt", { "sign-method": "ES256", "priv-key": "/missing" }), deps(files)),
      /auth: invalid auth options/,
    );
    const warnings: string[] = [];
    createTokenProvider(spec("jwt", { "sign-method": "ES256", "priv-key": "/k", color: "red" }), {
      ...deps(files),
      warn: (m) => warnings.push(m),
    });
    assert.deepEqual(warnings, ["unknown JWT options: color"], "unknown options are warned about, as etcd");
    assert.throws(() => createTokenProvider(spec("magic"), deps()), /auth: invalid auth options/);
  });
});
