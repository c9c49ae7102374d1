// A configured peer server name (etcd's PeerTLSInfo.ServerName, the --discovery-srv domain when the SRV
// records give https peers and no trusted CA file is set): peers dialed by address must present a
// certificate for that name, on the stream dials and on the agents' requests alike.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createServer, type Server } from "node:tls";
import { selfSignedCert } from "../../src/embed/self-signed-cert.js";
import { Agents, fetchPeer, type PeerTls } from "../../src/transport/http-util.js";
import { dialStream } from "../../src/transport/stream-dial.js";

const NAME = "cluster.example.test";
const quiet = { info() {} };

describe("peers' certificates checked against a configured server name", () => {
  let dir: string;
  let server: Server;
  let url: URL;
  let ca: Buffer;
  const sniSeen: Array<string | false> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "rxetcd-server-name-"));
    // a certificate naming the domain only: dialing 127.0.0.1 verifies only with the server name set
    const files = await selfSignedCert(dir, [NAME], quiet);
    ca = readFileSync(files.certFile);
    server = createServer({ cert: ca, key: readFileSync(files.keyFile) }, (socket) => {
      sniSeen.push((socket as unknown as { servername: string | false }).servername);
      socket.once("data", () => {
        socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/raft/stream/message/1`);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dial = (tls: PeerTls) =>
    dialStream({
      url,
      headers: { "X-Raft-To": "1" },
      tls,
      connectTimeoutMs: 5000,
      answerTimeoutMs: 5000,
      signal: new AbortController().signal,
    });

  test("a stream dial by address fails without the name and succeeds with it, sending it as SNI", async () => {
    await assert.rejects(
      dial({ ca, rejectUnauthorized: true }),
      /IP: 127\.0\.0\.1 is not in the cert's list/,
    );
    const answer = await dial({ ca, rejectUnauthorized: true, serverName: NAME });
    assert.equal(answer.status, 200);
    answer.destroy();
    assert.equal(sniSeen.at(-1), NAME);
  });

  test("the agents' requests check the same name", async () => {
    const plain = new Agents({ ca, rejectUnauthorized: true }, false);
    const named = new Agents({ ca, rejectUnauthorized: true, serverName: NAME }, false);
    try {
      const req = { method: "GET" as const, url: new URL("/version", url), connectTimeoutMs: 5000 };
      await assert.rejects(
        fetchPeer({ ...req, agent: plain.for(url) }),
        /127\.0\.0\.1 is not in the cert's list/,
      );
      const answer = await fetchPeer({ ...req, agent: named.for(url) });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), "ok");
      assert.equal(sniSeen.at(-1), NAME);
    } finally {
      plain.destroy();
      named.destroy();
    }
  });
});
