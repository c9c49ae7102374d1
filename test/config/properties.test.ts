// Property tests of the Go-compatible parsers. A failure prints its seed; replay it with
// FC_SEED=<seed> node --import tsx --test test/config/properties.test.ts
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseGoDuration, parseGoInt, parseGoUint } from "../../src/config/go-values.js";
import { parseEtcdUrl } from "../../src/config/urls.js";

const seed = process.env.FC_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED);
const params = { seed, numRuns: 300 };

function check(name: string, property: fc.IProperty<unknown>): void {
  const result = fc.check(property, params);
  if (result.failed) {
    assert.fail(
      `${name} failed for ${fc.stringify(result.counterexample)}; replay with ` +
        `FC_SEED=${seed} node --import tsx --test test/config/properties.test.ts`,
    );
  }
}

describe("Go-compatible parsers, by property", () => {
  test("unsigned integers parse back from decimal, hex, octal and binary text", () => {
    check(
      "uint round trip",
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        for (const text of [
          n.toString(10),
          `0x${n.toString(16)}`,
          `0o${n.toString(8)}`,
          `0b${n.toString(2)}`,
        ]) {
          const r = parseGoUint(text, 64);
          if (!r.ok || r.value !== n) return false;
        }
        return true;
      }),
    );
  });
  test("values past the bit size are range errors, never wrapped", () => {
    check(
      "uint range",
      fc.property(fc.bigInt({ min: 2n ** 32n, max: 2n ** 70n }), (n) => {
        const r = parseGoUint(n.toString(), 32);
        return !r.ok && r.failure === "range";
      }),
    );
  });
  test("signed integers keep their sign", () => {
    check(
      "int round trip",
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        const r = parseGoInt(n.toString(), 64);
        return r.ok && r.value === n;
      }),
    );
  });
  test("durations built from h, m, s and ms parts add up", () => {
    check(
      "duration sum",
      fc.property(fc.nat(1000), fc.nat(59), fc.nat(59), fc.nat(999), (h, m, s, ms) => {
        const r = parseGoDuration(`${h}h${m}m${s}s${ms}ms`);
        return r.ok && r.ns === ((h * 3600 + m * 60 + s) * 1000 + ms) * 1e6;
      }),
    );
  });
  test("http URLs of IPv4 hosts and ports keep their parts", () => {
    check(
      "url parts",
      fc.property(
        fc.ipV4(),
        fc.integer({ min: 0, max: 65535 }),
        fc.constantFrom("http", "https"),
        (ip, port, scheme) => {
          const u = parseEtcdUrl(`${scheme}://${ip}:${port}`);
          return (
            u.scheme === scheme &&
            u.hostname === ip &&
            u.port === String(port) &&
            u.href === `${scheme}://${ip}:${port}`
          );
        },
      ),
    );
  });
});
