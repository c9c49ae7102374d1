import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseEtcdUrl, parseUrlList, parseUrlsMap, urlsMapText } from "../../src/config/urls.js";

function failure(input: string): string {
  try {
    parseUrlList(input);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`${input} was accepted`);
}

describe("URL lists (etcd's types.NewURLs)", () => {
  test("a URL is split into scheme, host, hostname and port", () => {
    assert.deepEqual(parseEtcdUrl("http://127.0.0.1:2379"), {
      scheme: "http",
      host: "127.0.0.1:2379",
      hostname: "127.0.0.1",
      port: "2379",
      href: "http://127.0.0.1:2379",
    });
    const v6 = parseEtcdUrl("https://[::1]:2380");
    assert.equal(v6.hostname, "::1");
    assert.equal(v6.port, "2380");
    assert.equal(v6.host, "[::1]:2380");
    assert.equal(parseEtcdUrl("unix://localhost:1234").scheme, "unix");
    assert.equal(parseEtcdUrl("HTTP://a:1").href, "http://a:1", "scheme is lower-cased");
    assert.equal(parseEtcdUrl("  http://a:1 ").href, "http://a:1", "blanks trimmed");
  });
  test("lists are sorted by text and keep duplicates", () => {
    const urls = parseUrlList("http://b:2,http://a:1,http://b:2");
    assert.deepEqual(
      urls.map((u) => u.href),
      ["http://a:1", "http://b:2", "http://b:2"],
    );
  });
  test("wrong schemes are refused with etcd's message", () => {
    assert.equal(failure("ftp://a:1"), "URL scheme must be http, https, unix, or unixs: ftp://a:1");
    assert.equal(failure(""), "URL scheme must be http, https, unix, or unixs: ");
    assert.equal(failure("localhost:2379"), "URL scheme must be http, https, unix, or unixs: localhost:2379");
    assert.equal(
      failure("http://a:1,ftp://b:2"),
      "URL scheme must be http, https, unix, or unixs: ftp://b:2",
    );
  });
  test("a missing port or a path is refused", () => {
    assert.equal(
      failure("http://localhost"),
      'URL address does not have the form "host:port": http://localhost',
    );
    assert.equal(
      failure("http://::1:2379"),
      'URL address does not have the form "host:port": http://::1:2379',
    );
    assert.equal(failure("http://a:1/"), "URL must not contain a path: http://a:1/");
    assert.equal(failure("http://a:1/x"), "URL must not contain a path: http://a:1/x");
  });
  test("Go url.Parse failures are reported as parse errors", () => {
    assert.equal(
      failure("127.0.0.1:2379"),
      'parse "127.0.0.1:2379": first path segment in URL cannot contain colon',
    );
    assert.equal(failure(":2379"), 'parse ":2379": missing protocol scheme');
    assert.equal(failure("http://[::1:2379"), `parse "http://[::1:2379": missing ']' in host`);
    assert.equal(failure("http://a:b"), 'parse "http://a:b": invalid port ":b" after host');
    assert.equal(failure("http://a\t:1"), 'parse "http://a\\t:1": net/url: invalid control character in URL');
  });
  test("an empty port is accepted, as Go's SplitHostPort accepts it", () => {
    assert.equal(parseEtcdUrl("http://a:").port, "");
  });
});

describe("name=URL maps (etcd's types.NewURLsMap)", () => {
  test("groups URLs by member name and skips empty items", () => {
    const m = parseUrlsMap("b=http://10.0.0.2:2380,a=http://10.0.0.1:2380,,a=http://10.0.0.3:2380");
    assert.deepEqual([...m.keys()].sort(), ["a", "b"]);
    assert.deepEqual(
      m.get("a")?.map((u) => u.href),
      ["http://10.0.0.1:2380", "http://10.0.0.3:2380"],
    );
    assert.equal(urlsMapText(m), "a=http://10.0.0.1:2380,a=http://10.0.0.3:2380,b=http://10.0.0.2:2380");
  });
  test("an item without a URL fails the URL checks", () => {
    assert.throws(() => parseUrlsMap("a"), /URL scheme must be http, https, unix, or unixs: $/);
    assert.throws(() => parseUrlsMap("a=http://x"), /does not have the form "host:port"/);
  });
  test("the empty text is the empty map", () => {
    assert.equal(parseUrlsMap("").size, 0);
  });
});
