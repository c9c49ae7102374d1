// --listen-feed-urls, rxetcd's own flag, read as etcd reads its URL flags: flag, ETCD_* variable, YAML key.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { flagsHelp } from "../../src/config/help.js";
import { config, failure, hrefs } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-feed-urls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("--listen-feed-urls", () => {
  test("none by default", () => {
    assert.deepEqual(config([]).listenFeedUrls, []);
  });

  test("a flag, an ETCD_LISTEN_FEED_URLS variable or a listen-feed-urls key sets it", () => {
    assert.deepEqual(hrefs(config(["--listen-feed-urls=http://127.0.0.1:2390"]).listenFeedUrls), [
      "http://127.0.0.1:2390",
    ]);
    assert.deepEqual(
      hrefs(
        config([], { ETCD_LISTEN_FEED_URLS: "http://127.0.0.1:2390,http://10.0.0.1:2390" }).listenFeedUrls,
      ),
      ["http://10.0.0.1:2390", "http://127.0.0.1:2390"], // sorted, as etcd sorts URL lists
    );
    const path = join(dir, "feed.yaml");
    writeFileSync(path, "listen-feed-urls: http://localhost:2390\n");
    assert.deepEqual(hrefs(config(["--config-file", path]).listenFeedUrls), ["http://localhost:2390"]);
  });

  test("the flag and its variable together are etcd's conflict", () => {
    assert.match(
      failure(["--listen-feed-urls=http://127.0.0.1:2390"], {
        ETCD_LISTEN_FEED_URLS: "http://127.0.0.1:2391",
      }),
      /conflicting environment variable "ETCD_LISTEN_FEED_URLS" is shadowed by corresponding command-line flag/,
    );
  });

  test("bad URLs are refused with one clear line", () => {
    assert.equal(
      failure(["--listen-feed-urls=http://feed.local:2390"]),
      "expected IP in URL for binding (http://feed.local:2390)",
    );
    assert.match(
      failure(["--listen-feed-urls=http://127.0.0.1:2390/feed"], {}, 2),
      /^invalid value "http:\/\/127\.0\.0\.1:2390\/feed" for flag -listen-feed-urls: .*URL must not contain a path/,
    );
    assert.equal(
      failure(["--listen-feed-urls=https://127.0.0.1:2390"]),
      "TLS key/cert (--cert-file, --key-file) must be provided for feed url https://127.0.0.1:2390 with HTTPS scheme",
    );
    assert.equal(
      failure(["--listen-feed-urls=unix://127.0.0.1:2390"]),
      "--listen-feed-urls unix://127.0.0.1:2390: only http and https URLs are served",
    );
    const path = join(dir, "bad.yaml");
    writeFileSync(path, "listen-feed-urls: 127.0.0.1:2390\n");
    assert.equal(
      failure(["--config-file", path]),
      'unexpected error setting up listen-feed-urls: parse "127.0.0.1:2390": first path segment in URL cannot contain colon',
    );
  });

  test("--help lists it with the monitoring flags", () => {
    const help = flagsHelp();
    const monitoring = help.slice(help.indexOf("Profiling and Monitoring:"), help.indexOf("Logging:"));
    assert.match(monitoring, /--listen-feed-urls ''\n {4}Extra URLs serving only the event feed/);
  });
});
