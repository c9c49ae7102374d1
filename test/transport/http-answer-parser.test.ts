// The peer stream's HTTP answer reader: heads, chunked and identity bodies in every split of the
// received bytes, and the malformed or cut-short answers that must end a stream.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { HttpAnswerError, HttpAnswerParser } from "../../src/transport/http-answer-parser.js";
import { dialStream } from "../../src/transport/stream-dial.js";

interface Read {
  status: number | undefined;
  headers: Record<string, unknown> | undefined;
  body: Buffer;
  complete: boolean;
  error: Error | undefined;
}

/** Feeds `chunks` then the connection's end (when `eof`) to a parser and reports what it saw. */
function parse(chunks: readonly Buffer[], eof = true): Read {
  const pieces: Buffer[] = [];
  const p = new HttpAnswerParser((b) => pieces.push(Buffer.from(b)));
  let error: Error | undefined;
  try {
    for (const c of chunks) p.push(c);
    if (eof) p.eof();
  } catch (err) {
    error = err as Error;
  }
  return {
    status: p.head?.status,
    headers: p.head?.headers,
    body: Buffer.concat(pieces),
    complete: p.complete,
    error,
  };
}

/** A small deterministic generator, so that a failing split can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(buf.subarray(at, c));
    at = c;
  }
  out.push(buf.subarray(at));
  return out;
}

function chunked(parts: readonly Buffer[], opts: { ext?: boolean; trailers?: string } = {}): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    out.push(
      Buffer.from(`${p.length.toString(16)}${opts.ext ? ';name="v;x"' : ""}\r\n`),
      p,
      Buffer.from("\r\n"),
    );
  }
  out.push(Buffer.from(`0${opts.ext ? ";last" : ""}\r\n${opts.trailers ?? ""}\r\n`));
  return Buffer.concat(out);
}

const GO_STREAM_HEAD =
  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Server-Version: 3.4.23\r\n" +
  "Date: Sat, 05 Dec 2026 18:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n";

test("a chunked answer reads the same in every split into two and three pieces", () => {
  const body = [Buffer.from("hello "), Buffer.from("peer"), randomBytes(3)];
  const wire = Buffer.concat([
    Buffer.from(GO_STREAM_HEAD),
    chunked(body, { ext: true, trailers: "X-Trailer: 1\r\nX-Other:  two \r\n" }),
  ]);
  const want = Buffer.concat(body);
  for (let i = 0; i <= wire.length; i++) {
    for (let j = i; j <= wire.length; j++) {
      const r = parse(splitAt(wire, [i, j]));
      assert.equal(r.error, undefined, `split at ${i}, ${j}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers?.["x-server-version"], "3.4.23");
      assert.deepEqual(r.body, want, `split at ${i}, ${j}`);
      assert.ok(r.complete);
    }
  }
});

test("random splits of a long chunked answer give back the body (seeded)", () => {
  const seed = Number(process.env.PARSER_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = rng(seed);
  try {
    for (let round = 0; round < 200; round++) {
      const parts = Array.from({ length: 1 + Math.floor(random() * 20) }, () =>
        randomBytes(1 + Math.floor(random() * 300)),
      );
      const wire = Buffer.concat([
        Buffer.from(GO_STREAM_HEAD),
        chunked(parts, { ext: random() < 0.5, trailers: random() < 0.5 ? "Grpc-Status: 0\r\n" : "" }),
      ]);
      const cuts = Array.from({ length: Math.floor(random() * 40) }, () =>
        Math.floor(random() * wire.length),
      );
      const r = parse(splitAt(wire, cuts));
      assert.equal(r.error, undefined, `round ${round}`);
      assert.deepEqual(r.body, Buffer.concat(parts), `round ${round}`);
      assert.ok(r.complete, `round ${round}`);
    }
  } catch (err) {
    console.log(
      `seed ${seed}; replay: PARSER_SEED=${seed} node --import tsx --test test/transport/http-answer-parser.test.ts`,
    );
    throw err;
  }
});

test("a chunk that holds whole data is handed on as a view, not a copy", () => {
  const wire = Buffer.concat([Buffer.from(GO_STREAM_HEAD), Buffer.from("5\r\nhello\r\n")]);
  const pieces: Buffer[] = [];
  const p = new HttpAnswerParser((b) => pieces.push(b));
  p.push(wire);
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0].toString(), "hello");
  assert.equal(pieces[0].buffer, wire.buffer, "the piece shares the received chunk's memory");
  assert.equal(p.complete, false);
});

test("an answer without a length runs until the connection closes; Content-Length ends it", () => {
  const untilClose = parse([Buffer.from("HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nabc"), Buffer.from("def")]);
  assert.equal(untilClose.error, undefined);
  assert.equal(untilClose.body.toString(), "abcdef");
  assert.ok(untilClose.complete);

  const sized = parse(
    [Buffer.from("HTTP/1.1 412 Precondition Failed\r\nContent-Length: 20\r\n\r\ncluster ID mismatch\n")],
    false,
  );
  assert.equal(sized.status, 412);
  assert.equal(sized.body.toString(), "cluster ID mismatch\n");
  assert.ok(sized.complete, "complete without waiting for the close");

  const short = parse([Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\n\r\nshort")]);
  assert.ok(short.error instanceof HttpAnswerError);
  assert.match(short.error.message, /unexpected EOF/);
});

test("an interim 100 answer is skipped, repeated headers are joined, bare LFs are accepted", () => {
  const r = parse([
    Buffer.from("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nX-A: 1\nx-a: 2\nContent-Length: 2\n\nok"),
  ]);
  assert.equal(r.error, undefined);
  assert.equal(r.status, 200);
  assert.equal(r.headers?.["x-a"], "1, 2");
  assert.equal(r.body.toString(), "ok");
});

test("malformed answers are errors", () => {
  const bad: Array<[string, string]> = [
    ["bad chunk size", `${GO_STREAM_HEAD}zz\r\nhello\r\n`],
    ["chunk size too large", `${GO_STREAM_HEAD}ffffffffffffffffff\r\n`],
    ["no CRLF after chunk data", `${GO_STREAM_HEAD}2\r\nabc\r\n`],
    ["bad status line", "HTTP/2 200 OK\r\n\r\n"],
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n"],
    ["bad header line", "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"],
    ["folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n"],
    ["conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"],
    ["bad trailer", `${GO_STREAM_HEAD}0\r\nbad trailer\r\n\r\n`],
    ["data after the end", `${GO_STREAM_HEAD}0\r\n\r\nHTTP/1.1 200 OK\r\n`],
  ];
  for (const [what, text] of bad) {
    const r = parse([Buffer.from(text)], false);
    assert.ok(r.error instanceof HttpAnswerError, `${what}: ${r.error}`);
  }
  const huge = parse([Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(20_000)}`)], false);
  assert.match(String(huge.error), /too large/);
  const longLine = parse([Buffer.from(`${GO_STREAM_HEAD}1;${"e".repeat(5000)}`)], false);
  assert.match(String(longLine.error), /too long/);
});

test("a chunked answer cut short, or a connection closed before the head, is an error", () => {
  for (const text of [
    GO_STREAM_HEAD,
    `${GO_STREAM_HEAD}5\r\nhel`,
    `${GO_STREAM_HEAD}5\r\nhello\r\n`,
    "HTTP/1.1 200 OK\r\n",
  ]) {
    const r = parse([Buffer.from(text)]);
    assert.ok(r.error instanceof HttpAnswerError, JSON.stringify(text));
    assert.equal(r.complete, false);
  }
});

/** A raw TCP server that records the request and answers with `answer` (then closes when asked). */
async function rawServer(
  answer: (socket: Socket, request: string) => void,
): Promise<{ server: Server; url: URL }> {
  const server = createServer((socket) => {
    let request = "";
    socket.on("data", (d) => {
      request += d.toString("latin1");
      if (request.includes("\r\n\r\n")) answer(socket, request);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { server, url: new URL(`http://127.0.0.1:${port}/raft/stream/message/1`) };
}

function dial(url: URL, signal = new AbortController().signal) {
  return dialStream({
    url,
    headers: { "X-Server-From": "2", "X-Raft-To": "1" },
    connectTimeoutMs: 5000,
    answerTimeoutMs: 5000,
    signal,
  });
}

test("a dial sends Node's request and reads a streamed body until the peer ends it", async () => {
  let seen = "";
  const { server, url } = await rawServer((socket, request) => {
    seen = request;
    socket.write(`${GO_STREAM_HEAD}3\r\nabc`);
    setTimeout(() => socket.end("\r\n2\r\nde\r\n0\r\n\r\n"), 20);
  });
  try {
    const answer = await dial(url);
    assert.equal(answer.status, 200);
    assert.equal(
      seen,
      `GET /raft/stream/message/1 HTTP/1.1\r\nX-Server-From: 2\r\nX-Raft-To: 1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`,
    );
    const got: Buffer[] = [];
    const err = await new Promise<Error | undefined>((resolve) => answer.read((b) => got.push(b), resolve));
    assert.equal(err, undefined);
    assert.equal(Buffer.concat(got).toString(), "abcde");
  } finally {
    server.close();
  }
});

test("a dial's stream cut short or malformed ends with an error; an error answer's body is read", async () => {
  const { server, url } = await rawServer((socket, request) => {
    if (request.includes("X-Raft-To: 1")) socket.end(`${GO_STREAM_HEAD}3\r\nab`);
  });
  const { server: bad, url: badUrl } = await rawServer((socket) => socket.end(`${GO_STREAM_HEAD}3\r\nabcXY`));
  const { server: gone, url: goneUrl } = await rawServer((socket) =>
    socket.end(
      "HTTP/1.1 412 Precondition Failed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\ncluster ID mismatch\n",
    ),
  );
  try {
    for (const u of [url, badUrl]) {
      const answer = await dial(u);
      const err = await new Promise<Error | undefined>((resolve) => answer.read(() => {}, resolve));
      assert.ok(err instanceof Error, `${u}: ends with an error`);
    }
    const answer = await dial(goneUrl);
    assert.equal(answer.status, 412);
    assert.equal((await answer.body()).toString(), "cluster ID mismatch\n");
    const stopped = new AbortController();
    stopped.abort();
    await assert.rejects(dial(url, stopped.signal), /request canceled/);
  } finally {
    server.close();
    bad.close();
    gone.close();
  }
});
