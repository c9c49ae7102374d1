import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseGoBool, parseGoDuration, parseGoInt, parseGoUint } from "../../src/config/go-values.js";

function uint(s: string, bits = 64): bigint | string {
  const r = parseGoUint(s, bits);
  return r.ok ? r.value : r.failure;
}

function int(s: string, bits = 64): bigint | string {
  const r = parseGoInt(s, bits);
  return r.ok ? r.value : r.failure;
}

describe("Go unsigned integers (strconv.ParseUint with base 0)", () => {
  test("decimal, hex, octal and binary forms", () => {
    assert.equal(uint("100"), 100n);
    assert.equal(uint("0"), 0n);
    assert.equal(uint("0x1F"), 31n);
    assert.equal(uint("0X1f"), 31n);
    assert.equal(uint("017"), 15n);
    assert.equal(uint("0o17"), 15n);
    assert.equal(uint("0b101"), 5n);
  });
  test("underscores only after a base prefix and between digits", () => {
    assert.equal(uint("0x_1F"), 31n);
    assert.equal(uint("0b1_0_1"), 5n);
    assert.equal(uint("1_000"), "syntax");
    assert.equal(uint("0x1__F"), "syntax");
    assert.equal(uint("0x1F_"), "syntax");
  });
  test("signs, blanks, bad digits and empty input are syntax errors", () => {
    for (const bad of ["", "-1", "+1", " 1", "1 ", "abc", "1.5", "08", "0x", "0b2", "1e3"]) {
      assert.equal(uint(bad), "syntax", bad);
    }
  });
  test("range limits by bit size", () => {
    assert.equal(uint("18446744073709551615"), 18446744073709551615n);
    assert.equal(uint("18446744073709551616"), "range");
    assert.equal(uint("4294967295", 32), 4294967295n);
    assert.equal(uint("4294967296", 32), "range");
  });
});

describe("Go signed integers (strconv.ParseInt with base 0)", () => {
  test("signs and limits", () => {
    assert.equal(int("-5"), -5n);
    assert.equal(int("+5"), 5n);
    assert.equal(int("-0x10"), -16n);
    assert.equal(int("9223372036854775807"), 9223372036854775807n);
    assert.equal(int("9223372036854775808"), "range");
    assert.equal(int("-9223372036854775808"), -9223372036854775808n);
    assert.equal(int("-9223372036854775809"), "range");
    assert.equal(int("--1"), "syntax");
    assert.equal(int("-"), "syntax");
  });
});

describe("Go booleans (strconv.ParseBool)", () => {
  test("exactly Go's spellings", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(t), true, t);
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) assert.equal(parseGoBool(f), false, f);
    for (const bad of ["yes", "no", "on", "off", "tRUE", "", " true"])
      assert.equal(parseGoBool(bad), undefined, bad);
  });
});

describe("Go durations (time.ParseDuration)", () => {
  const ns = (s: string) => {
    const r = parseGoDuration(s);
    return r.ok ? r.ns : r.error;
  };
  test("units, fractions, sequences and signs", () => {
    assert.equal(ns("0"), 0);
    assert.equal(ns("100ms"), 100e6);
    assert.equal(ns("5s"), 5e9);
    assert.equal(ns("2h"), 7200e9);
    assert.equal(ns("1h30m"), 5400e9);
    assert.equal(ns("1.5s"), 1.5e9);
    assert.equal(ns(".5s"), 0.5e9);
    assert.equal(ns("10us"), 10e3);
    assert.equal(ns("10µs"), 10e3);
    assert.equal(ns("3ns"), 3);
    assert.equal(ns("-1m"), -60e9);
    assert.equal(ns("+1m"), 60e9);
  });
  test("errors in Go's words", () => {
    assert.equal(ns(""), 'time: invalid duration ""');
    assert.equal(ns("abc"), 'time: invalid duration "abc"');
    assert.equal(ns("."), 'time: invalid duration "."');
    assert.equal(ns("5"), 'time: missing unit in duration "5"');
    assert.equal(ns("1h5"), 'time: missing unit in duration "1h5"');
    assert.equal(ns("5x"), 'time: unknown unit "x" in duration "5x"');
    assert.equal(ns("5 s"), 'time: unknown unit " s" in duration "5 s"');
  });
});
