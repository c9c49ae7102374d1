import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ClusterFileError, readClusterFile, writeClusterFile } from "../../src/proxy/cluster-file.js";

const dir = mkdtempSync(join(tmpdir(), "proxy-cluster-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the proxy's cluster file", () => {
  test("written as Go marshals it, through a .bak that does not stay", () => {
    const path = join(dir, "cluster");
    writeClusterFile(path, ["http://10.0.0.1:2380", "https://b<&>:1"]);
    assert.equal(
      readFileSync(path, "utf8"),
      '{"PeerURLs":["http://10.0.0.1:2380","https://b\\u003c\\u0026\\u003e:1"]}',
    );
    assert.equal(existsSync(`${path}.bak`), false);
    assert.deepEqual(readClusterFile(path), ["http://10.0.0.1:2380", "https://b<&>:1"]);
    writeClusterFile(path, []);
    assert.deepEqual(readClusterFile(path), []);
  });

  test("read as Go's json.Unmarshal reads it", () => {
    const path = join(dir, "variants");
    const read = (text: string) => {
      writeFileSync(path, text);
      return readClusterFile(path);
    };
    assert.deepEqual(read('{"peerurls":["http://a:1"]}'), ["http://a:1"]);
    assert.deepEqual(read('{"PeerURLs":null,"Other":1}'), []);
    assert.deepEqual(read("{}"), []);
    assert.throws(() => read('{"PeerURLs":[1]}'), ClusterFileError);
    assert.throws(() => read("[]"), ClusterFileError);
    assert.throws(() => read("{"), ClusterFileError);
    assert.equal(readClusterFile(join(dir, "absent")), undefined);
  });
});
