// Bad requests get etcd's gRPC code and message (over gRPC and the JSON gateway), and the member keeps serving.
// Gateway answers are compared with Debian's etcd when it is installed.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { Etcd3, EtcdLeaseInvalidError, GRPCInvalidArgumentError, GRPCOutOfRangeError } from "etcd3";
import { debianEtcd, destroyAllMembers, e2eTest, Member, startMembersOnce } from "./harness.js";

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

interface GatewayAnswer {
  status: number;
  body: unknown;
}

/** Replaces the response header and revisions (ids, revisions, terms differ between servers) so bodies compare. */
function maskHeader(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(maskHeader);
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) {
      if (k === "header") out[k] = "<header>";
      else if (k === "create_revision" || k === "mod_revision") out[k] = "<rev>";
      else if (k === "ID" || k === "id") out[k] = "<id>";
      else out[k] = maskHeader(v);
    }
    return out;
  }
  return body;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

describe("bad input against rxetcd", () => {
  let rx: Member;
  let ref: Member | undefined;
  let client: Etcd3;
  let n = 0;

  startMembersOnce(async () => {
    [rx, ref] = await Promise.all([
      Member.start(),
      debianEtcd ? Member.start({ binary: "etcd" }) : undefined,
    ]);
    client = new Etcd3({ hosts: rx.clientUrl });
  });
  after(async () => {
    client?.close();
    await destroyAllMembers();
  });

  /** Sends one raw gateway request to rxetcd (and etcd); the answers must agree once headers are masked. */
  async function gateway(
    path: string,
    body: string | object | undefined,
    method?: string,
  ): Promise<GatewayAnswer> {
    const send = async (m: Member): Promise<GatewayAnswer> => {
      const r = await m.http(path, {
        ...(body === undefined ? {} : { body }),
        ...(method ? { method } : {}),
      });
      return { status: r.status, body: parseBody(r.text) };
    };
    const [mine, theirs] = await Promise.all([send(rx), ref ? send(ref) : undefined]);
    if (theirs) {
      assert.deepEqual(
        { status: mine.status, body: maskHeader(mine.body) },
        { status: theirs.status, body: maskHeader(theirs.body) },
        `POST ${path}: rxetcd (actual) differs from etcd 3.4.23 (expected)`,
      );
    }
    return mine;
  }

  /** The member still serves: a put through gRPC and a get through the gateway both work. */
  async function stillServing(): Promise<void> {
    const key = `alive/${++n}`;
    const put = await client.put(key).value("yes").exec();
    assert.ok(Number(put.header.revision) > 1);
    const range = await rx.http("/v3/kv/range", { body: { key: b64(key) } });
    assert.equal(range.status, 200, range.text);
    assert.equal((range.json() as { kvs: Array<{ value: string }> }).kvs[0].value, b64("yes"));
  }

  const etcdError = (code: number, message: string) => ({ error: message, message, code });

  e2eTest("a value over 1.5 MiB: request is too large (gRPC and gateway)", {}, async () => {
    const big = Buffer.alloc(1_600_000, "a");
    await assert.rejects(client.put("big").value(big).exec(), (err: Error) => {
      assert.ok(err instanceof GRPCInvalidArgumentError, String(err));
      assert.match(err.message, /etcdserver: request is too large/);
      return true;
    });
    const gw = await gateway("/v3/kv/put", { key: b64("big"), value: b64(big) });
    assert.deepEqual(gw, { status: 400, body: etcdError(3, "etcdserver: request is too large") });
    assert.equal(await client.get("big").string(), null);
    await stillServing();
  });

  e2eTest("a value just under the limit is accepted", {}, async () => {
    const v = Buffer.alloc(1_500_000, "b");
    await client.put("almost-big").value(v).exec();
    assert.equal((await client.get("almost-big").buffer())?.length, v.length);
    await stillServing();
  });

  e2eTest("a range answer over 4 MiB reaches etcdctl (gRPC send limit is not 4 MiB)", {}, async () => {
    const v = Buffer.alloc(1_200_000, "r");
    for (let i = 0; i < 4; i++) await client.put(`large/${i}`).value(v).exec();
    const r = await rx.etcdctl(["get", "large/", "--prefix", "--print-value-only"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, 4 * (v.length + 1));
    await client.delete().prefix("large/").exec();
    await stillServing();
  });

  e2eTest("129 operations in a txn: too many operations (128 is fine)", {}, async () => {
    const ops = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ request_put: { key: b64(`ops/${i}`), value: b64("x") } }));
    const gw = await gateway("/v3/kv/txn", { success: ops(129) });
    assert.deepEqual(gw, {
      status: 400,
      body: etcdError(3, "etcdserver: too many operations in txn request"),
    });
    const puts = Array.from({ length: 129 }, (_, i) => client.put(`ops/${i}`).value("y"));
    await assert.rejects(
      client
        .if("ops/0", "Version", "==", 0)
        .then(...puts)
        .commit(),
      (err: Error) => {
        assert.ok(err instanceof GRPCInvalidArgumentError, String(err));
        assert.match(err.message, /etcdserver: too many operations in txn request/);
        return true;
      },
    );
    const fine = await client
      .if("ops/0", "Version", "==", 0)
      .then(...puts.slice(0, 128))
      .commit();
    assert.equal(fine.succeeded, true);
    assert.equal(await client.getAll().prefix("ops/").count(), 128);
    await stillServing();
  });

  e2eTest("duplicate key in one txn branch", {}, async () => {
    const gw = await gateway("/v3/kv/txn", {
      success: [
        { request_put: { key: b64("dup"), value: b64("1") } },
        { request_put: { key: b64("dup"), value: b64("2") } },
      ],
    });
    assert.deepEqual(gw, {
      status: 400,
      body: etcdError(3, "etcdserver: duplicate key given in txn request"),
    });
    await stillServing();
  });

  e2eTest("unknown lease: a gateway put answers 404 requested lease not found", {}, async () => {
    const put = await gateway("/v3/kv/put", { key: b64("lk"), value: b64("v"), lease: "1234567" });
    assert.deepEqual(put, { status: 404, body: etcdError(5, "etcdserver: requested lease not found") });
    await stillServing();
  });

  e2eTest("unknown lease: a gRPC put fails with requested lease not found", {}, async () => {
    await assert.rejects(client.put("lk").value("v").lease("1234567").exec(), (err: Error) => {
      assert.match(err.message, /etcdserver: requested lease not found/);
      return true;
    });
    assert.equal(await client.get("lk").string(), null);
    await stillServing();
  });

  e2eTest("unknown lease: revoke is 404; timetolive answers TTL -1 without error", {}, async () => {
    const revoke = await gateway("/v3/lease/revoke", { ID: "1234567" });
    assert.deepEqual(revoke, { status: 404, body: etcdError(5, "etcdserver: requested lease not found") });
    const ttl = await gateway("/v3/lease/timetolive", { ID: "1234567" });
    assert.equal(ttl.status, 200);
    assert.equal((ttl.body as { TTL: string }).TTL, "-1");
    assert.equal((ttl.body as { ID: string }).ID, "1234567");
    await stillServing();
  });

  e2eTest("lease ids above 2^53 survive the gateway as bare JSON numbers", {}, async () => {
    const id = "7614357804668751113";
    const grant = await rx.http("/v3/lease/grant", { body: `{"TTL":60,"ID":${id}}` });
    assert.equal(grant.status, 200, grant.text);
    assert.match(grant.text, new RegExp(`"ID":"${id}"`));
    const ttl = await rx.http("/v3/lease/timetolive", { body: `{"ID":${id}}` });
    assert.match(ttl.text, new RegExp(`"ID":"${id}"`));
    assert.match(ttl.text, /"grantedTTL":"60"/);
    const again = await rx.http("/v3/lease/grant", { body: `{"TTL":60,"ID":"${id}"}` });
    assert.equal(again.status, 412, again.text);
    assert.deepEqual(again.json(), etcdError(9, "etcdserver: lease already exists"));
    const revoke = await rx.http("/v3/lease/revoke", { body: `{"ID":${id}}` });
    assert.equal(revoke.status, 200, revoke.text);
    await stillServing();
  });

  e2eTest("lease TTL too large", {}, async () => {
    const gw = await gateway("/v3/lease/grant", { TTL: "9000000001" });
    assert.deepEqual(gw, { status: 400, body: etcdError(11, "etcdserver: too large lease TTL") });
    await stillServing();
  });

  e2eTest("empty key: key is not provided (put and range)", {}, async () => {
    const put = await gateway("/v3/kv/put", { key: "", value: b64("v") });
    assert.deepEqual(put, { status: 400, body: etcdError(3, "etcdserver: key is not provided") });
    const range = await gateway("/v3/kv/range", {});
    assert.deepEqual(range, { status: 400, body: etcdError(3, "etcdserver: key is not provided") });
    await assert.rejects(client.put("").value("v").exec(), GRPCInvalidArgumentError);
    await stillServing();
  });

  e2eTest("put with ignore_value on a missing key: key not found", {}, async () => {
    const gw = await gateway("/v3/kv/put", { key: b64("never-written"), ignore_value: true });
    assert.deepEqual(gw, { status: 400, body: etcdError(3, "etcdserver: key not found") });
    await stillServing();
  });

  e2eTest("put with ignore_value and a value: value is provided", {}, async () => {
    const both = await gateway("/v3/kv/put", { key: b64("x"), value: b64("v"), ignore_value: true });
    assert.deepEqual(both, { status: 400, body: etcdError(3, "etcdserver: value is provided") });
    await stillServing();
  });

  e2eTest("future revision: range and compaction", {}, async () => {
    const range = await gateway("/v3/kv/range", { key: b64("k"), revision: "100000" });
    assert.deepEqual(range, {
      status: 400,
      body: etcdError(11, "etcdserver: mvcc: required revision is a future revision"),
    });
    const compact = await gateway("/v3/kv/compaction", { revision: "100000" });
    assert.deepEqual(compact, {
      status: 400,
      body: etcdError(11, "etcdserver: mvcc: required revision is a future revision"),
    });
    await assert.rejects(client.get("k").revision(100000).exec(), GRPCOutOfRangeError);
    await stillServing();
  });

  e2eTest("compacted revision: range and compaction again", {}, async () => {
    const first = Number((await client.put("cmp/k").value("1").exec()).header.revision);
    const now = Number((await client.put("cmp/k").value("2").exec()).header.revision);
    await client.kv.compact({ revision: now });
    const range = await rx.http("/v3/kv/range", { body: { key: b64("cmp/k"), revision: String(first) } });
    assert.equal(range.status, 400);
    assert.deepEqual(range.json(), etcdError(11, "etcdserver: mvcc: required revision has been compacted"));
    const again = await rx.http("/v3/kv/compaction", { body: { revision: String(now) } });
    assert.equal(again.status, 400);
    assert.deepEqual(again.json(), etcdError(11, "etcdserver: mvcc: required revision has been compacted"));
    await assert.rejects(client.get("cmp/k").revision(first).exec(), (err: Error) => {
      assert.ok(err instanceof GRPCOutOfRangeError, String(err));
      assert.match(err.message, /etcdserver: mvcc: required revision has been compacted/);
      return true;
    });
    await stillServing();
  });

  e2eTest("revoking an unknown lease over gRPC", {}, async () => {
    const lease = client.lease(10, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.revoke();
    await assert.rejects(client.leaseClient.leaseRevoke({ ID: id }), (err: Error) => {
      assert.ok(err instanceof EtcdLeaseInvalidError, String(err));
      assert.match(err.message, /NOT_FOUND: etcdserver: requested lease not found/);
      return true;
    });
    await stillServing();
  });

  e2eTest("an out-of-range sort order is accepted as etcd 3.4 does (no sorting, no error)", {}, async () => {
    await gateway("/v3/kv/put", { key: b64("so/a"), value: b64("1") });
    const r = await gateway("/v3/kv/range", { key: b64("so/a"), sort_order: 7 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((r.body as { count: string }).count, "1");
    await stillServing();
  });

  // int64 fields read as numbers (revisions, limits, TTLs) take values past 2^53 as etcd's Go decoder
  // does; rxetcd's decoders failed the request with code Internal
  e2eTest("int64 values past 2^53 answer as etcd 3.4 answers them", {}, async () => {
    await gateway("/v3/kv/put", { key: b64("big/a"), value: b64("1") });
    const all = await gateway("/v3/kv/range", `{"key":"${b64("big/a")}","limit":9223372036854775807}`);
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal((all.body as { count: string }).count, "1");
    const future = await gateway("/v3/kv/range", `{"key":"${b64("big/a")}","revision":"9007199254740993"}`);
    assert.equal(future.status, 400, JSON.stringify(future.body));
    const ttl = await gateway("/v3/lease/grant", { TTL: "9007199254740993" });
    assert.equal(ttl.status, 400, JSON.stringify(ttl.body));
    const ctl = await rx.etcdctl(["get", "big/a", "--rev", "9007199254740993"]);
    assert.match(ctl.stderr, /required revision is a future revision/);
    await stillServing();
  });

  // A user or role name is the key of its backend record. etcd 3.4 keeps a name of up to 32,768 bytes
  // (bbolt's longest key) and exits when it applies a longer one; rxetcd refuses that before proposing it.
  e2eTest(
    "user and role names longer than a bbolt key: a clear error, and the member keeps serving",
    {},
    async () => {
      const longest = "n".repeat(32_768);
      const tooLong = "n".repeat(32_769);
      // 10,923 characters, 32,769 bytes: the limit counts UTF-8 bytes
      const wide = "\u20ac".repeat(10_923);
      for (const name of [tooLong, wide]) {
        const user = await rx.etcdctl(["user", "add", `${name}:pw`]);
        assert.notEqual(user.code, 0, "a user with a name over 32768 bytes is refused");
        assert.match(
          user.stderr,
          /code = InvalidArgument desc = etcdserver: user name is longer than 32768 bytes/,
        );
        const role = await rx.etcdctl(["role", "add", name]);
        assert.notEqual(role.code, 0, "a role with a name over 32768 bytes is refused");
        assert.match(
          role.stderr,
          /code = InvalidArgument desc = etcdserver: role name is longer than 32768 bytes/,
        );
      }
      // rxetcd only: etcd 3.4 would exit
      const gw = await rx.http("/v3/auth/user/add", { body: { name: tooLong, password: "pw" } });
      assert.equal(gw.status, 400, gw.text);
      assert.deepEqual(gw.json(), etcdError(3, "etcdserver: user name is longer than 32768 bytes"));
      await stillServing();
      // the longest name is a user and a role like any other, on both
      for (const m of ref ? [rx, ref] : [rx]) {
        assert.equal((await m.etcdctl(["user", "add", `${longest}:pw`])).code, 0);
        assert.equal((await m.etcdctl(["role", "add", longest])).code, 0);
        assert.equal((await m.etcdctl(["user", "grant-role", longest, longest])).code, 0);
      }
      const users = await rx.etcdctl(["user", "list"]);
      assert.ok(users.stdout.split("\n").includes(longest), "the longest name is listed");
      if (ref) {
        assert.equal(users.stdout, (await ref.etcdctl(["user", "list"])).stdout, "etcd lists the same users");
        const get = (m: Member) => m.etcdctl(["user", "get", longest]);
        assert.equal((await get(rx)).stdout, (await get(ref)).stdout);
      }
      await stillServing();
      assert.equal(rx.running, true, `the member stopped: ${rx.exitReport()}`);
    },
  );

  e2eTest("alarm GET over the gateway answers an empty object as etcd 3.4 does", {}, async () => {
    const r = await gateway("/v3/maintenance/alarm", { action: "GET" });
    assert.deepEqual(r, { status: 200, body: {} });
  });

  e2eTest(
    "gateway: a bytes field may be an array of numbers, as etcd 3.4's encoding/json reads it",
    {},
    async () => {
      const bytesOf = (s: string) => JSON.stringify([...Buffer.from(s)]);
      const put = await gateway("/v3/kv/put", `{"key":${bytesOf("gwbytes/a")},"value":[118,null]}`);
      assert.equal(put.status, 200);
      const range = await gateway("/v3/kv/range", `{"key":${bytesOf("gwbytes/a")}}`);
      assert.deepEqual(
        (range.body as { kvs: Array<{ key: string; value: string }> }).kvs[0].value,
        b64("v\0"),
      );
      for (const key of ["[256]", "[-1]", "[1.0]", "[[97]]", '["a"]', "[]", "[null]"]) {
        await gateway("/v3/kv/range", `{"key":${key}}`);
      }
      // given both names of a field, the camel-case one counts
      await gateway(
        "/v3/kv/range",
        `{"key":"${b64("gwbytes/")}","range_end":"AA==","rangeEnd":"${b64("gwbytes0")}"}`,
      );
      await gateway("/v3/kv/range", `{"key":"${b64("gwbytes/")}","count_only":true,"countOnly":"x"}`);
      // Go shows a backslash in a syntax error as '\\'
      await gateway("/v3/kv/range", "{\\");
      // enum names and integers in strings are taken from their source text, escapes unresolved
      for (const field of [
        '"sort_order":"DESC\\u0045ND"',
        '"limit":"\\u0035"',
        '"limit":"-"',
        '"limit":"1\\u0031"',
      ]) {
        await gateway("/v3/kv/range", `{"key":"${b64("gwbytes/")}",${field}}`);
      }
    },
  );

  e2eTest("gateway: malformed JSON is 400 code 3", {}, async () => {
    for (const body of ['{"key":', "not json", '{"key": 5}']) {
      const r = await rx.http("/v3/kv/range", { body });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      const j = r.json() as { error: string; message: string; code: number };
      assert.equal(j.code, 3, r.text);
      assert.equal(j.error, j.message);
      assert.ok(j.message.length > 0);
    }
    await stillServing();
  });

  e2eTest("gateway: unknown path is 404, GET on an RPC path is 405", {}, async () => {
    const wrong = await gateway("/v3/kv/nope", {});
    assert.equal(wrong.status, 404);
    const get = await gateway("/v3/kv/range", undefined, "GET");
    assert.equal(get.status, 405);
    const root = await rx.http("/no/such/thing");
    assert.equal(root.status, 404);
    await stillServing();
  });

  e2eTest("gateway: /v3beta is an alias of /v3", {}, async () => {
    const r = await gateway("/v3beta/kv/range", { key: b64("nothing-here") });
    assert.equal(r.status, 200);
    await stillServing();
  });
});
