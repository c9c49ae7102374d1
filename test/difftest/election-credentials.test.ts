// Where rxetcd differs from etcd 3.4 on purpose, side by side: etcd's lock and election services watch through the
// member's in-process client, whose watches share one stream opened with the credentials of the call that made the
// first of them. While a user with read access to one prefix holds an Observe open, a root Observe of another prefix
// is checked against that user's permissions and ends at once, with no answer. rxetcd checks each call's own
// credentials: the root Observe stays open, waiting for a leader. (The differential tester sends these calls as root
// in its auth runs, so that this does not count as a difference.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { debianEtcd } from "../e2e/harness.js";
import { withMembers } from "./runner.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

async function post(
  base: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = token;
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(answer)}`);
  return answer;
}

/** A held Observe: whether it has ended by itself (and what it said) once `ms` passed, then the client leaves. */
async function observeFor(
  base: string,
  name: string,
  token: string,
  ms: number,
): Promise<{ ended: boolean; text: string }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  let text = "";
  try {
    const res = await fetch(`${base}/v3/election/observe`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: token },
      body: JSON.stringify({ name: b64(name) }),
      signal: abort.signal,
    });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
      text += Buffer.from(chunk).toString();
    return { ended: true, text: `${res.status} ${text}` };
  } catch {
    return { ended: false, text };
  } finally {
    clearTimeout(timer);
  }
}

async function setUp(base: string): Promise<{ root: string; reader: string }> {
  await post(base, "/v3/auth/user/add", { name: "root", password: "pw" });
  await post(base, "/v3/auth/user/grant", { user: "root", role: "root" });
  await post(base, "/v3/auth/user/add", { name: "areader", password: "pw" });
  await post(base, "/v3/auth/role/add", { name: "ar" });
  await post(base, "/v3/auth/role/grant", {
    name: "ar",
    perm: { permType: "READ", key: b64("a/"), range_end: b64("a0") },
  });
  await post(base, "/v3/auth/user/grant", { user: "areader", role: "ar" });
  await post(base, "/v3/auth/enable", {});
  const token = async (name: string) =>
    (await post(base, "/v3/auth/authenticate", { name, password: "pw" })).token as string;
  return { root: await token("root"), reader: await token("areader") };
}

test("a root Observe while a user with less holds one open: etcd 3.4 checks it as that user, rxetcd as root", async () => {
  assert.ok(debianEtcd, "Debian's etcd 3.4 is not installed (apt-get install etcd-server)");
  await withMembers(async (endpoints) => {
    const seen: Record<string, { alone: boolean; behindReader: boolean }> = {};
    for (const [name, endpoint] of Object.entries(endpoints)) {
      const base = `http://${endpoint}`;
      const { root, reader } = await setUp(base);
      // alone, a root Observe of an election with no leader waits for one, on both servers
      const alone = await observeFor(base, "", root, 1000);
      // the reader's Observe of "a" (no leader either) opens the in-process watch stream first
      const held = observeFor(base, "a", reader, 3000);
      await new Promise((r) => setTimeout(r, 500));
      const behind = await observeFor(base, "", root, 1000);
      const readerOwn = await held;
      assert.equal(readerOwn.ended, false, `${name}: the reader's own Observe ended: ${readerOwn.text}`);
      seen[name] = { alone: alone.ended, behindReader: behind.ended };
    }
    assert.deepEqual(seen.etcd, { alone: false, behindReader: true }, "etcd 3.4's shared watch stream");
    assert.deepEqual(
      seen.rxetcd,
      { alone: false, behindReader: false },
      "rxetcd checks the call's own credentials",
    );
  });
});
