// The HTTP side of the client port, checked against answers recorded from Debian's etcd 3.4.23
// (curl against both servers): gateway JSON, error bodies and statuses, streams, plain endpoints,
// and gRPC on the same port as HTTP.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import { type Harness, http, startHarness } from "./harness.js";

// The test double uses the ids of the recorded etcd member, so whole bodies can be compared.
const header = (rev: number) =>
  `"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"${rev}","raft_term":"2"}`;

describe("client port over HTTP/1.1", { timeout: 60_000 }, () => {
  let h: Harness;
  const post = (path: string, body: string) => http(h.url, path, { body });
  before(async () => {
    h = await startHarness({ maxRequestBytes: 64 * 1024 });
  });
  after(() => h.close());

  it("answers put, range, txn and deleterange as etcd 3.4's gateway does", async () => {
    const put = await post("/v3/kv/put", '{"key":"Zm9v","value":"YmFy"}');
    assert.equal(put.status, 200);
    assert.equal(put.headers["content-type"], "application/json");
    assert.equal(put.headers["grpc-metadata-content-type"], "application/grpc");
    assert.equal(put.body, `{${header(2)}}`);

    const prev = await post("/v3/kv/put", '{"key":"Zm9v","value":"YmF6","prev_kv":true}');
    assert.equal(
      prev.body,
      `{${header(3)},"prev_kv":{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}`,
    );
    const range = await post("/v3/kv/range", '{"key":"Zm9v"}');
    assert.equal(
      range.body,
      `{${header(3)},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}],"count":"1"}`,
    );
    // camelCase names are accepted too, unknown fields are ignored, and so is text after the object.
    const keysOnly = await post("/v3/kv/range", '{"key":"Zm9v","keysOnly":true,"bogus":1} trailing');
    assert.equal(
      keysOnly.body,
      `{${header(3)},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2"}],"count":"1"}`,
    );
    const countOnly = await post("/v3/kv/range", '{"key":"AA==","range_end":"AA==","count_only":true}');
    assert.equal(countOnly.body, `{${header(3)},"count":"1"}`);
    const beta = await post("/v3beta/kv/range", '{"key":"bm9uZQ=="}');
    assert.equal(beta.body, `{${header(3)}}`);

    const del = await post("/v3/kv/deleterange", '{"key":"Zm9v","prev_kv":true}');
    assert.equal(
      del.body,
      `{${header(4)},"deleted":"1","prev_kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}]}`,
    );
    const txn = await post(
      "/v3/kv/txn",
      '{"compare":[{"key":"Zm9v","target":"VERSION","result":"EQUAL","version":"0"}],"success":[{"request_put":{"key":"Zm9v","value":"MQ=="}}],"failure":[{"request_range":{"key":"Zm9v"}}]}',
    );
    assert.equal(
      txn.body,
      `{${header(5)},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"5"}}}]}`,
    );
  });

  it("keeps 64-bit lease IDs given as bare JSON numbers", async () => {
    const grant = await post("/v3/lease/grant", '{"TTL":60,"ID":7614357804668751113}');
    assert.match(grant.body, /"ID":"7614357804668751113","TTL":"60"\}$/);
    const ttl = await post("/v3/kv/lease/timetolive", '{"ID":"1"}');
    assert.match(ttl.body, /"ID":"1","TTL":"-1"\}$/);
    const leases = await post("/v3/lease/leases", "{}");
    assert.match(leases.body, /"leases":\[\{"ID":"7614357804668751113"\}\]\}$/);
  });

  it("answers failed RPCs with etcd's error body, HTTP status and gRPC trailer", async () => {
    const cases: [string, string, number, string][] = [
      [
        "/v3/kv/range",
        "{}",
        400,
        '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}',
      ],
      [
        "/v3/kv/range",
        '{"key":"Zm9v","revision":"1000"}',
        400,
        '{"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11}',
      ],
      [
        "/v3/lease/revoke",
        '{"ID":"1"}',
        404,
        '{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}',
      ],
      [
        "/v3/lease/grant",
        '{"TTL":60,"ID":7614357804668751113}',
        412,
        '{"error":"etcdserver: lease already exists","message":"etcdserver: lease already exists","code":9}',
      ],
      [
        "/v3/kv/txn",
        '{"success":[{}]}',
        400,
        '{"error":"etcdserver: key not found","message":"etcdserver: key not found","code":3}',
      ],
      [
        "/v3/maintenance/transfer-leadership",
        '{"targetID":"1"}',
        412,
        '{"error":"etcdserver: bad leader transferee","message":"etcdserver: bad leader transferee","code":9}',
      ],
      [
        "/v3/auth/authenticate",
        '{"name":"root","password":"x"}',
        412,
        '{"error":"etcdserver: authentication is not enabled","message":"etcdserver: authentication is not enabled","code":9}',
      ],
      [
        "/v3/cluster/member/remove",
        '{"ID":"1"}',
        404,
        '{"error":"etcdserver: member not found","message":"etcdserver: member not found","code":5}',
      ],
    ];
    for (const [path, body, status, expected] of cases) {
      const r = await post(path, body);
      assert.equal(r.status, status, `${path} ${body}`);
      assert.equal(r.body, expected, `${path} ${body}`);
      assert.equal(r.headers.trailer, "Grpc-Trailer-Content-Type");
      assert.equal(r.trailers["grpc-trailer-content-type"], "application/grpc");
    }
  });

  it("rejects bodies that are not the request message with Go's texts (400, code 3)", async () => {
    const cases: [string, string][] = [
      ['{"key":"Zm9v"', "unexpected EOF"],
      ["not json", "invalid character 'o' in literal null (expecting 'u')"],
      ['{"key":"!!!"}', "illegal base64 data at input byte 0"],
      ['{"key":"Zm9v_-"}', "illegal base64 data at input byte 4"],
      ['{"key":123}', "json: cannot unmarshal number into Go value of type []uint8"],
      ['{"key":"Zm9v","limit":"abc"}', "invalid character 'a' looking for beginning of value"],
      ['{"key":"Zm9v","limit":1.5}', "json: cannot unmarshal number 1.5 into Go value of type int64"],
      [
        '{"key":"Zm9v","limit":"99999999999999999999"}',
        "json: cannot unmarshal number 99999999999999999999 into Go value of type int64",
      ],
      ['{"key":"Zm9v","keys_only":"true"}', "json: cannot unmarshal string into Go value of type bool"],
      [
        '{"key":"Zm9v","sort_order":"BAD"}',
        'unknown value "BAD" for enum etcdserverpb.RangeRequest_SortOrder',
      ],
      ["[1,2]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"],
    ];
    for (const [body, message] of cases) {
      const r = await post("/v3/kv/range", body);
      assert.equal(r.status, 400, body);
      assert.equal(r.headers["content-length"], String(Buffer.byteLength(r.body)));
      assert.deepEqual(JSON.parse(r.body), { error: message, message, code: 3 }, body);
    }
    // An empty body is an empty request, which then fails in the RPC.
    assert.equal((await post("/v3/kv/range", "")).body.includes("key is not provided"), true);
  });

  it("answers wrong paths and methods like etcd's muxes (404/405/301)", async () => {
    const gw404 = await post("/v3/kv/nothing", "{}");
    assert.equal(gw404.status, 404);
    assert.equal(gw404.body, "Not Found\n");
    assert.equal(gw404.headers["x-content-type-options"], "nosniff");
    const gw405 = await http(h.url, "/v3/kv/range", { method: "GET" });
    assert.equal(gw405.status, 405);
    assert.equal(gw405.body, "Method Not Allowed\n");
    const root404 = await http(h.url, "/v3alpha/kv/range", { body: "{}" });
    assert.equal(root404.status, 404);
    assert.equal(root404.body, "404 page not found\n");
    const hashkv = await post("/v3/maintenance/hashkv", "{}");
    assert.equal(hashkv.status, 404);
    const moved = await post("/v3//kv/range", "{}");
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, "/v3/kv/range");
    const options = await http(h.url, "/v3/kv/range", { method: "OPTIONS" });
    assert.equal(options.status, 200);
    assert.equal(options.headers["access-control-allow-origin"], "*");
  });

  it('streams watch answers as one {"result":...} line per chunk', async () => {
    let created!: () => void;
    const isCreated = new Promise<void>((r) => {
      created = r;
    });
    const watching = http(h.url, "/v3/watch", {
      body: '{"create_request":{"key":"dw==","prev_kv":true}}',
      stopAfterChunks: 4,
      onChunk: () => created(),
    });
    await isCreated;
    await post("/v3/kv/put", '{"key":"dw==","value":"MQ=="}');
    await post("/v3/kv/put", '{"key":"dw==","value":"Mg=="}');
    await post("/v3/kv/deleterange", '{"key":"dw=="}');
    const w = await watching;
    assert.equal(w.status, 200);
    assert.equal(w.headers["transfer-encoding"], "chunked");
    for (const chunk of w.chunks) assert.match(chunk, /^\{"result":.*\}\n$/);
    const rev = (await post("/v3/kv/range", '{"key":"eA=="}')).body.match(/"revision":"(\d+)"/)?.[1];
    const r = Number(rev);
    assert.equal(w.chunks[0], `{"result":{${header(r - 3)},"created":true}}\n`);
    assert.equal(
      w.chunks[3],
      `{"result":{${header(r)},"events":[{"type":"DELETE","kv":{"key":"dw==","mod_revision":"${r}"},"prev_kv":{"key":"dw==","create_revision":"${r - 2}","mod_revision":"${r - 1}","version":"2","value":"Mg=="}}]}}\n`,
    );
  });

  it("answers a bad first stream message with 500 code 2, and keep-alives line by line", async () => {
    const bad = await post("/v3/watch", "garbage");
    assert.equal(bad.status, 500);
    assert.equal(
      bad.body,
      `{"error":"invalid character 'g' looking for beginning of value","message":"invalid character 'g' looking for beginning of value","code":2}`,
    );
    const ka = await post("/v3/lease/keepalive", '{"ID":"1"}{"ID":"2"}');
    assert.equal(ka.status, 200);
    const lines = ka.body.split("\n").filter(Boolean);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).result.ID),
      ["1", "2"],
    );
  });

  it("streams a snapshot over the gateway", async () => {
    h.api.snapshotBytes = Buffer.alloc(40 * 1024, 9);
    const snap = await post("/v3/maintenance/snapshot", "{}");
    const lines = snap.body
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).result);
    assert.deepEqual(
      lines.map((m) => [Buffer.from(m.blob, "base64").length, m.remaining_bytes]),
      [
        [32768, "8192"],
        [8192, undefined],
        [32, undefined],
      ],
    );
  });

  it("serves /health, /version and /metrics like etcd 3.4", async () => {
    const ok = await http(h.url, "/health");
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '{"health":"true"}');
    assert.equal((await http(h.url, "/health", { method: "POST" })).status, 405);
    h.api.healthy = false;
    const sick = await http(h.url, "/health");
    h.api.healthy = true;
    assert.equal(sick.status, 503);
    assert.equal(sick.body, '{"health":"false"}\n');
    const version = await http(h.url, "/version");
    assert.equal(version.body, '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}');
    assert.equal(version.headers["content-type"], "application/json");
    h.api.decidedClusterVersion = undefined;
    const undecided = await http(h.url, "/version");
    h.api.decidedClusterVersion = "3.4.0";
    assert.equal(undecided.body, '{"etcdserver":"3.4.23","etcdcluster":"not_decided"}');
    const metrics = await http(h.url, "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^etcd_server_health_success 1$/m);
    assert.match(metrics.body, /^etcd_server_health_failures 1$/m);
    // gRPC server metrics count gateway calls too, with zero series for every method and code.
    assert.match(
      metrics.body,
      /^grpc_server_handled_total\{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Range",grpc_code="InvalidArgument"\} [1-9]\d*$/m,
    );
    assert.match(
      metrics.body,
      /^grpc_server_handled_total\{grpc_type="bidi_stream",grpc_service="etcdserverpb.Watch",grpc_method="Watch",grpc_code="DataLoss"\} 0$/m,
    );
    assert.match(
      metrics.body,
      /^# HELP grpc_server_started_total Total number of RPCs started on the server\.$/m,
    );
  });

  it("serves gRPC and HTTP on the same port at once", async () => {
    const etcd = new Etcd3({ hosts: `http://${h.hostPort}` });
    try {
      await etcd.put("both").value("ways");
      const viaHttp = await post("/v3/kv/range", `{"key":"${Buffer.from("both").toString("base64")}"}`);
      assert.match(viaHttp.body, new RegExp(`"value":"${Buffer.from("ways").toString("base64")}"`));
      await post(
        "/v3/kv/put",
        `{"key":"${Buffer.from("back").toString("base64")}","value":"${Buffer.from("again").toString("base64")}"}`,
      );
      assert.equal(await etcd.get("back").string(), "again");
    } finally {
      etcd.close();
    }
  });

  it("survives hostile input on every kind of path", async () => {
    const huge = await post("/v3/kv/range", '{"key":"Zm9v","revision":"9223372036854775807"}');
    assert.ok(huge.status >= 400);
    assert.equal((await post("/v3/election/observe", '{"name":7}')).status, 400);
    assert.equal((await post("/v3/maintenance/snapshot", "[")).status, 400);
    const watch = await post(
      "/v3/watch",
      '{"create_request":{"key":"eA==","start_revision":"99999999999999999999"}}',
    );
    assert.equal(watch.status, 500);
    const ka = await post("/v3/lease/keepalive", '{"ID":"1"} {"ID":"x"}');
    assert.equal(ka.body.split("\n").filter(Boolean).length, 1);
    const raw = await http(h.url, "/v3/kv/put", { body: "\u0000\u0001\u0002" });
    assert.equal(raw.status, 400);
    assert.equal((await http(h.url, "/version")).status, 200);
  });

  it("bodies too large to hold: malformed ones get Go's syntax error (400, or 500 on streams), well-formed ones 429", async () => {
    // above twice the gRPC receive limit (576 KiB at this harness's --max-request-bytes) nothing is held
    const big = 5 * 1024 * 1024;
    const unterminated = `{"key":"${"QUFB".repeat(big / 4)}"`;
    const braces = "{".repeat(big);
    const wellFormed = `{"key":"${"QUFB".repeat(big / 4)}"}`;
    for (const path of ["/v3/kv/range", "/v3/kv/put", "/v3/maintenance/snapshot"]) {
      const eof = await post(path, unterminated);
      assert.equal(eof.status, 400, path);
      assert.deepEqual(JSON.parse(eof.body), { error: "unexpected EOF", message: "unexpected EOF", code: 3 });
      const bad = await post(path, braces);
      assert.equal(bad.status, 400, path);
      assert.equal(
        JSON.parse(bad.body).message,
        "invalid character '{' looking for beginning of object key string",
      );
    }
    const tooLarge = await post("/v3/kv/put", wellFormed);
    assert.equal(tooLarge.status, 429);
    assert.match(
      JSON.parse(tooLarge.body).message,
      /^grpc: received message larger than max \(\d+ vs\. 589824\)$/,
    );
    for (const path of ["/v3/watch", "/v3/lease/keepalive"]) {
      const eof = await post(path, unterminated);
      assert.equal(eof.status, 500, path);
      assert.deepEqual(JSON.parse(eof.body), { error: "unexpected EOF", message: "unexpected EOF", code: 2 });
    }
    assert.equal((await http(h.url, "/version")).status, 200);
  });

  it("ends a watch whose message is over the gRPC receive limit with etcd's 429 ResourceExhausted line", async () => {
    // 600 KiB of key: a 614,408-byte WatchRequest against 589,824 (64 KiB + gRPC's 512 KiB)
    const key = Buffer.alloc(600 * 1024, "y").toString("base64");
    const tooLarge = (size: number, http = 429) => ({
      error: {
        grpc_code: 8,
        http_code: http,
        message: `grpc: received message larger than max (${size} vs. 589824)`,
        http_status: "Too Many Requests",
      },
    });
    const first = await post("/v3/watch", JSON.stringify({ create_request: { key } }));
    assert.equal(first.status, 429);
    assert.deepEqual(JSON.parse(first.body), tooLarge(614408));
    // a later one ends the stream after the answers before it, the watcher it asked for never made
    const later = await post(
      "/v3/watch",
      `{"create_request":{"key":"YQ=="}}${JSON.stringify({ create_request: { key } })}`,
    );
    assert.equal(later.status, 200);
    const lines = later.body
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 2, later.body.slice(0, 300));
    assert.equal(lines[0].result.created, true);
    assert.deepEqual(lines[1], tooLarge(614408));
    // one too large to hold whole is refused the same way, sized by its length
    const huge = await post("/v3/watch", JSON.stringify({ create_request: { key: `${key}${key}` } }));
    assert.equal(huge.status, 429);
    assert.match(
      JSON.parse(huge.body).error.message,
      /^grpc: received message larger than max \(\d+ vs\. 589824\)$/,
    );
    assert.equal((await http(h.url, "/version")).status, 200);
  });

  it("takes a stream's first message past its early-checked start, arriving in pieces, below the limit", async () => {
    // a 300,000-character key: past the 64 KiB checked as it arrives, below the limit (576 KiB here)
    const key = "QUFB".repeat(75_000);
    const watching = await http(h.url, "/v3/watch", {
      body: `{"create_request":{"key":"${key}"}}\n{"create_request":{"key":"eA=="}}`,
      stopAfterChunks: 2,
    });
    assert.equal(watching.status, 200);
    assert.equal(watching.chunks.length, 2);
    for (const chunk of watching.chunks) assert.match(chunk, /^\{"result":\{.*"created":true\}\}\n$/);
    // the same message with a character base64 refuses near its end: Go's error, naming its position
    const refused = await post("/v3/watch", `{"create_request":{"key":"${key}\u00e9"}}`);
    assert.equal(refused.status, 500);
    assert.equal(JSON.parse(refused.body).message, `illegal base64 data at input byte ${key.length}`);
  });

  it("answers a malformed body as soon as its start shows it, before the rest arrives (as Go's decoder reads)", async () => {
    // the body is sent in pieces and not ended until the answer came: a server that waited for the
    // whole body (holding it) would never answer
    const answerBeforeEnd = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(new URL(path, h.url), {
          method: "POST",
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
          agent: false,
        });
        const timer = setTimeout(() => {
          req.destroy();
          reject(new Error(`${path}: no answer to a malformed body before it ended`));
        }, 20_000);
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => {
            clearTimeout(timer);
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        req.on("error", () => undefined);
        req.write("{".repeat(32 * 1024));
        req.write("{".repeat(32 * 1024));
      });
    const text = "invalid character '{' looking for beginning of object key string";
    for (const path of ["/v3/kv/put", "/v3/maintenance/snapshot", "/v3/election/observe"]) {
      const r = await answerBeforeEnd(path);
      assert.equal(r.status, 400, path);
      assert.deepEqual(JSON.parse(r.body), { error: text, message: text, code: 3 }, path);
    }
    for (const path of ["/v3/watch", "/v3/lease/keepalive"]) {
      const r = await answerBeforeEnd(path);
      assert.equal(r.status, 500, path);
      assert.deepEqual(JSON.parse(r.body), { error: text, message: text, code: 2 }, path);
    }
    assert.equal((await http(h.url, "/version")).status, 200);
  });

  it("bodies too large to hold are decoded as etcd decodes them: wrong types 400, the message's size in 429", async () => {
    // answers as Debian's etcd 3.4.23 gives them for the same bodies (sizes scaled to this harness's limit)
    const big = "QUFB".repeat((2 * 1024 * 1024) / 4);
    const answer = async (path: string, body: string) => {
      const r = await post(path, body);
      return { status: r.status, message: JSON.parse(r.body).message as string | undefined };
    };
    const cannot = (what: string, type: string) => ({
      status: 400,
      message: `json: cannot unmarshal ${what} into Go value of type ${type}`,
    });
    assert.deepEqual(await answer("/v3/kv/put", `{"key":123,"value":"${big}"}`), cannot("number", "[]uint8"));
    assert.deepEqual(
      await answer("/v3/kv/put", `{"key":"QUFB","value":"${big}","lease":true}`),
      cannot("bool", "int64"),
    );
    assert.deepEqual(
      await answer(
        "/v3/kv/txn",
        `{"compare":[{"key":"QUFB","value":"${big}"}],"success":[{"request_put":{"key":5}}]}`,
      ),
      cannot("number", "[]uint8"),
    );
    // Go names the first byte base64 refuses, wherever it is in the string
    const refused = (at: number) => ({ status: 400, message: `illegal base64 data at input byte ${at}` });
    assert.deepEqual(await answer("/v3/kv/put", `{"key":"QUFB","value":"!${big}"}`), refused(0));
    assert.deepEqual(await answer("/v3/kv/put", `{"key":"QUFB","value":"${big}!QUFB"}`), refused(big.length));
    assert.deepEqual(await answer("/v3/kv/put", `{"key":"QUFB","value":"${big}Q"}`), refused(big.length));
    // well-formed: too large by the decoded message's size (3 bytes per 4 base64 characters, tags, lengths)
    const tooLarge = (size: number) => ({
      status: 429,
      message: `grpc: received message larger than max (${size} vs. 589824)`,
    });
    const bytes = (big.length / 4) * 3;
    assert.deepEqual(await answer("/v3/kv/put", `{"key":"QUFB","value":"${big}"}`), tooLarge(bytes + 9));
    assert.deepEqual(await answer("/v3/kv/range", `{"key":"${big}","nosuch":1}`), tooLarge(bytes + 4));
    // what the decoding ignores costs nothing: a large unknown field, a key given twice, padding
    const put = await answer("/v3/kv/put", `{"key":"eA==","other":"${big}"}`);
    assert.equal(put.status, 200);
    const again = await answer("/v3/kv/put", `{"key":"eA==","value":"${big}","value":"dg=="}`);
    assert.equal(again.status, 200);
    const padded = await answer("/v3/kv/put", `{"key":"eQ==",${" ".repeat(2 * 1024 * 1024)}"value":"dg=="}`);
    assert.equal(padded.status, 200);
    const got = JSON.parse((await post("/v3/kv/range", '{"key":"eQ=="}')).body);
    assert.equal(got.kvs?.[0]?.value, "dg==");
  });

  it("takes header blocks up to Go's 1 MiB and answers 431 above it", async () => {
    const within = await http(h.url, "/version", { headers: { "x-big": "a".repeat(1000 * 1024) } });
    assert.equal(within.status, 200);
    const above = await http(h.url, "/version", { headers: { "x-big": "a".repeat(1100 * 1024) } }).catch(
      () => ({ status: 431 }),
    );
    assert.equal(above.status, 431);
  });

  it("answers an oversized gateway request with 'request is too large' and keeps serving", async () => {
    const value = Buffer.alloc(65 * 1024, 1).toString("base64");
    const r = await post("/v3/kv/put", `{"key":"Yg==","value":"${value}"}`);
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).message, "etcdserver: request is too large");
    assert.equal((await http(h.url, "/version")).status, 200);
  });
});
