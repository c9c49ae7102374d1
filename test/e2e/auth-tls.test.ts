// TLS on the client port with --client-cert-auth: a verified certificate's Common Name is the user
// (gRPC only, as etcd), a token still wins over it, and clients that cannot talk TLS or bring a
// certificate from another CA fail cleanly while the member keeps serving. Each command also runs
// against Debian's etcd 3.4.23 with the same certificates; the two must agree.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { CLIENT_EXT, makeCerts, signCert, type TestCerts } from "./certs.js";
import {
  type CtlResult,
  debianEtcd,
  destroyAllMembers,
  e2eTest,
  Member,
  maskVolatile,
  startMembersOnce,
} from "./harness.js";

function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("Error:"))
    .join("\n");
}

const normalized = (r: CtlResult) => ({
  code: r.code,
  stdout: maskVolatile(r.stdout),
  error: errorLines(r.stderr).replace(/127\.0\.0\.1:\d+/g, "<endpoint>"),
});

/** POSTs JSON over TLS with a client certificate (and optionally a token). */
function tlsPost(
  url: string,
  body: object,
  tls: { ca: string; cert: string; key: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.cert),
        key: readFileSync(tls.key),
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("client certificates name users (--client-cert-auth)", () => {
  const dir = mkdtempSync(join(tmpdir(), "e2e-tls-"));
  let certs: TestCerts;
  let rx: Member;
  let ref: Member | undefined;
  startMembersOnce(async () => {
    certs = makeCerts(dir, ["root", "u1", "nobody"]);
    const clientTls = {
      ca: certs.ca,
      serverCert: certs.server.cert,
      serverKey: certs.server.key,
      clientCert: certs.clients.root.cert,
      clientKey: certs.clients.root.key,
    };
    [rx, ref] = await Promise.all([
      Member.start({ clientTls }),
      debianEtcd ? Member.start({ binary: "etcd", clientTls }) : undefined,
    ]);
  });
  after(async () => {
    await destroyAllMembers();
    rmSync(dir, { recursive: true, force: true });
  });

  const as = (who: string) => [
    "--cacert",
    certs.ca,
    "--cert",
    certs.clients[who].cert,
    "--key",
    certs.clients[who].key,
  ];

  async function both(args: string[]): Promise<CtlResult> {
    const [mine, theirs] = await Promise.all([rx.etcdctl(args), ref?.etcdctl(args)]);
    if (theirs) {
      assert.deepEqual(
        normalized(mine),
        normalized(theirs),
        `etcdctl ${args.join(" ")}: rxetcd (actual) differs from etcd 3.4.23 (expected)`,
      );
    }
    return mine;
  }

  e2eTest("the certificate's Common Name is the user; a token wins over it", {}, async () => {
    const setup: Array<[string[], string]> = [
      [["user", "add", "root:rootpw"], "User root created\n"],
      [["user", "grant-role", "root", "root"], "Role root is granted to user root\n"],
      [["role", "add", "r1"], "Role r1 created\n"],
      [["role", "grant-permission", "r1", "readwrite", "cn/", "--prefix"], "Role r1 updated\n"],
      [["user", "add", "u1", "--no-password"], "User u1 created\n"],
      [["user", "grant-role", "u1", "r1"], "Role r1 is granted to user u1\n"],
      [["auth", "enable"], "Authentication Enabled\n"],
    ];
    for (const [args, out] of setup) {
      const r = await both([...as("root"), ...args]);
      assert.equal(r.stdout, out, `${args.join(" ")}: ${r.stderr}`);
    }
    assert.equal((await both([...as("u1"), "put", "cn/k", "v"])).stdout, "OK\n");
    assert.equal((await both([...as("u1"), "get", "cn/k", "--print-value-only"])).stdout, "v\n");
    const outside = await both([...as("u1"), "put", "elsewhere", "v"]);
    assert.equal(errorLines(outside.stderr), "Error: etcdserver: permission denied");
    const unknown = await both([...as("nobody"), "get", "cn/k"]);
    assert.equal(errorLines(unknown.stderr), "Error: etcdserver: permission denied");
    assert.equal((await both([...as("root"), "user", "list"])).stdout, "root\nu1\n");
    const notAdmin = await both([...as("u1"), "user", "list"]);
    assert.equal(errorLines(notAdmin.stderr), "Error: etcdserver: permission denied");
    // --user authenticates and its token counts, whatever the certificate says
    assert.equal((await both([...as("u1"), "--user", "root:rootpw", "user", "list"])).stdout, "root\nu1\n");
  });

  e2eTest(
    "the gateway refuses requests with a named certificate while auth is on (as etcd)",
    {},
    async () => {
      const key = Buffer.from("cn/k").toString("base64");
      const u1 = { ca: certs.ca, ...certs.clients.u1 };
      const r = await tlsPost(`${rx.clientUrl}/v3/kv/range`, { key }, u1);
      assert.equal(r.status, 400, r.text);
      assert.equal(
        r.text,
        "CommonName of client sending a request against gateway will be ignored and not used as expected\n",
      );
      if (ref) {
        const theirs = await tlsPost(`${ref.clientUrl}/v3/kv/range`, { key }, u1);
        assert.deepEqual(theirs, r);
      }
    },
  );

  e2eTest(
    "a plaintext client, no certificate, or one from another CA fail; the member keeps serving",
    {},
    async () => {
      const plain = await rx.etcdctl(["--dial-timeout", "1s", "--command-timeout", "2s", "get", "cn/k"]);
      assert.notEqual(plain.code, 0);
      const noCert = await rx.etcdctl([
        "--cacert",
        certs.ca,
        "--dial-timeout",
        "1s",
        "--command-timeout",
        "2s",
        "get",
        "cn/k",
      ]);
      assert.notEqual(noCert.code, 0);
      const otherDir = mkdtempSync(join(tmpdir(), "e2e-tls-other-"));
      try {
        const other = makeCerts(otherDir, []);
        const stranger = signCert(
          otherDir,
          { cert: other.ca, key: other.caKey },
          "stranger",
          "u1",
          CLIENT_EXT,
        );
        const r = await rx.etcdctl([
          "--cacert",
          certs.ca,
          "--cert",
          stranger.cert,
          "--key",
          stranger.key,
          "--dial-timeout",
          "1s",
          "--command-timeout",
          "2s",
          "get",
          "cn/k",
        ]);
        assert.notEqual(r.code, 0, "a certificate from another CA is refused");
      } finally {
        rmSync(otherDir, { recursive: true, force: true });
      }
      assert.equal((await rx.etcdctl([...as("u1"), "get", "cn/k", "--print-value-only"])).stdout, "v\n");
      assert.equal((await both([...as("root"), "auth", "disable"])).stdout, "Authentication Disabled\n");
    },
  );
});
