// The client port's HTTP/2 on raw frames beside Debian's etcd 3.4 (grpc-go's h2c server): malformed
// requests, frames on streams the client ended or closed, the too_many_pings GOAWAY with streams open,
// the header blocks of native and forwarded answers, and grpc-go's answers to unusual gRPC requests
// (unknown services and methods, encodings, message prefixes, grpc-timeout) must come back the same
// from both. Where
// rxetcd is stricter than grpc-go (connection-specific fields, a missing :path, DATA on a closed
// stream, rapid resets) the own connection's tests say what it answers.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { encodeLiterals, type HeaderField } from "../../src/api/grpc/hpack.js";
import { ErrorCode, Flags, FrameType, frame, Setting, settingsFrame } from "../../src/api/wire/frames.js";
import { grpcMessage, grpcRequest, RawClient, type ReadFrame } from "../api/wire-raw-client.js";
import { fastElections } from "./cluster-harness.js";
import { type Binary, destroyAllMembers, e2eTest, eventually, Member, needsDebianEtcd } from "./harness.js";

const RANGE = "/etcdserverpb.KV/Range";
/** A method etcd does not have (grpc-go's "unknown method" answer). */
const UNKNOWN = "/etcdserverpb.KV/Nope";
const WATCH = "/etcdserverpb.Watch/Watch";
const LEASE_KEEP_ALIVE = "/etcdserverpb.Lease/LeaseKeepAlive";
/** A RangeRequest for key "a". */
const rangeRequest = grpcMessage(Buffer.from([0x0a, 0x01, 0x61]));

/** `p`, or undefined once `ms` passed (a server that never answers fails the comparison, not the clock). */
function within<T>(p: Promise<T>, ms = 10_000): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * What came back on one stream: its frames' types with a reset's code, and its header blocks. `etcdEnded`: the stream
 * is etcd's and the client ended its side with its request. grpc-go resets a stream it finished (NO_ERROR) while its
 * reader has not yet seen the client's END_STREAM, which races the handler (most often lost by a call refused on its
 * headers alone, as an unknown method): such a reset says nothing of the answer and is left out.
 */
function streamSummary(
  raw: RawClient,
  id: number,
  etcdEnded = false,
): (string | HeaderField[] | undefined)[] {
  const summary = raw.frames
    .filter((f) => f.streamId === id)
    .map((f: ReadFrame) => {
      if (f.type === FrameType.HEADERS) return f.fields;
      if (f.type === FrameType.RST_STREAM) return `RST_STREAM ${f.payload.readUInt32BE(0)}`;
      return f.type === FrameType.DATA ? "DATA" : `type ${f.type}`;
    });
  if (etcdEnded && summary.length > 1 && summary.at(-1) === `RST_STREAM ${ErrorCode.NO_ERROR}`) summary.pop();
  return summary;
}

const request = grpcRequest(RANGE);
const malformed: [string, HeaderField[]][] = [
  ["an upper-case name", [...request, ["X-Upper", "1"]]],
  ["a pseudo-header after a regular field", [...request.slice(1), request[0]]],
  ["a second :path", [[":path", RANGE], ...request]],
  ["an unknown pseudo-header", [[":foo", "x"], ...request]],
  ["a control character in a value", [...request, ["x-value", "a\u0001b"]]],
];

/** A gRPC message whose first byte (the compressed flag) is `flag`. */
const flagged = (flag: number) => Buffer.concat([Buffer.from([flag]), rangeRequest.subarray(1)]);

/** A request's headers with another content-type (undefined: none), method or path. */
const retyped = (type: string | undefined, path = RANGE, method = "POST"): HeaderField[] =>
  grpcRequest(path)
    .filter(([n]) => n !== "content-type" || type !== undefined)
    .map(
      ([n, v]): HeaderField => [n, n === "content-type" ? (type as string) : n === ":method" ? method : v],
    );

/** A gRPC message prefix alone, announcing `length` bytes. */
function prefixOnly(length: number): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/** --max-request-bytes of both members: small, so that a request over it fits the client's windows. */
const MAX_REQUEST_BYTES = 4096;

/** A PutRequest of key "a" and a value of `n` bytes. */
function putOf(n: number): Buffer {
  const length: number[] = [];
  for (let x = n; ; x >>>= 7) {
    if (x < 0x80) {
      length.push(x);
      break;
    }
    length.push((x & 0x7f) | 0x80);
  }
  return grpcMessage(
    Buffer.concat([Buffer.from([0x0a, 0x01, 0x61, 0x12, ...length]), Buffer.alloc(n, 0x62)]),
  );
}

/** Request messages etcd's codec cannot read. */
const unreadable: [string, number[]][] = [
  ["a tag cut short", [0xff]],
  ["wire type 7", [0x0f]],
  ["bytes cut short", [0x0a, 0x05, 0x61]],
  ["a varint missing", [0x08]],
  ["tag 0", [0x00]],
  ["a group", [0x0b]],
  ["a length past 2^32", [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ["a varint of 11 bytes", [0x08, ...Array(10).fill(0xff), 0x01]],
];

/** Random request messages (a fixed sequence): fields of every wire type, nested, some cut short. */
function randomMessages(count: number): Buffer[] {
  let x = 88172645;
  const random = (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  const varint = (v: number): number[] => {
    const out: number[] = [];
    for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v & 0x7f) | 0x80);
    out.push(v);
    return out;
  };
  const message = (depth: number): number[] => {
    const out: number[] = [];
    for (let f = random(4); f > 0; f--) {
      const field = random(10) === 0 ? random(70) : 1 + random(8);
      const wireType = random(6) === 0 ? random(8) : [0, 2, 2, 0, 1, 5][random(6)];
      out.push(...varint(field * 8 + wireType));
      if (wireType === 0) {
        const n = random(12) === 0 ? 10 + random(2) : 1 + random(3);
        for (let i = 1; i < n; i++) out.push(0x80 | random(128));
        out.push(random(128));
      } else if (wireType === 2) {
        const inner =
          depth < 3 && random(2) ? message(depth + 1) : Array.from({ length: random(4) }, () => random(256));
        const length = random(8) === 0 ? Math.max(0, inner.length + random(3) - 1) : inner.length;
        out.push(...varint(length), ...inner);
      } else if (wireType === 1 || wireType === 5) {
        for (let i = random(wireType === 1 ? 10 : 6); i > 0; i--) out.push(random(256));
      }
    }
    return out;
  };
  return Array.from({ length: count }, () => Buffer.from(message(0)));
}

/**
 * gRPC requests that grpc-go answers before (or instead of) the call, with their bodies (undefined:
 * the headers end the stream; "open", or a body with `true` after it: the client's side stays open).
 */
const unusual: [string, HeaderField[], Buffer | undefined | "open", boolean?][] = [
  ["an unknown service", grpcRequest("/etcdserverpb.Nope/Range"), rangeRequest],
  ["an unknown method", grpcRequest("/etcdserverpb.KV/Nope"), rangeRequest],
  ["an unknown method of Watch", grpcRequest("/etcdserverpb.Watch/Nope"), undefined],
  ["a path without a service", grpcRequest("/Range"), rangeRequest],
  ["the root path", grpcRequest("/"), rangeRequest],
  ...["application/grpc+json", "application/grpc+proto", "application/grpc;charset=UTF-8"].map(
    (type): [string, HeaderField[], Buffer] => [
      `content-type ${type}`,
      grpcRequest(RANGE).map(([n, v]): HeaderField => [n, n === "content-type" ? type : v]),
      rangeRequest,
    ],
  ),
  ["an unknown grpc-encoding", grpcRequest(RANGE, [["grpc-encoding", "zzz"]]), flagged(1)],
  ["gzip, which etcd does not install", grpcRequest(RANGE, [["grpc-encoding", "gzip"]]), rangeRequest],
  ["gzip on a Watch", grpcRequest(WATCH, [["grpc-encoding", "gzip"]]), undefined],
  ["a compressed flag without an encoding", grpcRequest(RANGE), flagged(1)],
  ["a payload format of 2", grpcRequest(RANGE), flagged(2)],
  ["a message cut short", grpcRequest(RANGE), rangeRequest.subarray(0, 6)],
  ["a length prefix cut short", grpcRequest(RANGE), rangeRequest.subarray(0, 3)],
  ["two messages", grpcRequest(RANGE), Buffer.concat([rangeRequest, rangeRequest])],
  ["a truncated protobuf", grpcRequest(RANGE), grpcMessage(Buffer.from([0x0a, 0x05, 0x61]))],
  ["a malformed grpc-timeout", grpcRequest(RANGE, [["grpc-timeout", "soon"]]), rangeRequest],
  ["a grpc-timeout of nine digits", grpcRequest(RANGE, [["grpc-timeout", "123456789S"]]), rangeRequest],
  // an etcd error's text, which grpc-go writes as it reads (only bytes outside printable ASCII and % encoded)
  [
    "an unknown lease's revoke",
    grpcRequest("/etcdserverpb.Lease/LeaseRevoke"),
    grpcMessage(Buffer.from([0x08, 0x01])),
  ],
  ["a -bin header not base64", grpcRequest(RANGE, [["x-trace-bin", "!not base64!"]]), rangeRequest],
  // over h2c every stream is grpc-go's (cmux): one whose content-type is not gRPC's is reset
  ["content-type application/json", retyped("application/json"), rangeRequest],
  ["content-type text/plain", retyped("text/plain"), rangeRequest],
  ["no content-type", retyped(undefined), rangeRequest],
  ["content-type application/grpc-web", retyped("application/grpc-web"), rangeRequest],
  ["JSON on a gateway path", retyped("application/json", "/v3/kv/range"), Buffer.from('{"key":"YQ=="}')],
  ["a GET of /health", retyped(undefined, "/health", "GET"), undefined],
  ["gRPC on a gateway path", retyped("application/grpc", "/v3/kv/range"), rangeRequest],
  [
    "an unknown method of content-type application/grpc+json",
    retyped("application/grpc+json", UNKNOWN),
    rangeRequest,
  ],
  ["a GET on a gRPC path", retyped("application/grpc", RANGE, "GET"), rangeRequest],
  // the client's end before any message: grpc-go's io.EOF
  ["an empty DATA ending the stream", grpcRequest(RANGE), Buffer.alloc(0)],
  ["a health check without its message", grpcRequest("/grpc.health.v1.Health/Check"), Buffer.alloc(0)],
  ["a Lock without its message", grpcRequest("/v3lockpb.Lock/Lock"), Buffer.alloc(0)],
  ["a Snapshot without its message", grpcRequest("/etcdserverpb.Maintenance/Snapshot"), Buffer.alloc(0)],
  ["a health check cut short", grpcRequest("/grpc.health.v1.Health/Check"), rangeRequest.subarray(0, 6)],
  [
    "a Snapshot cut short",
    grpcRequest("/etcdserverpb.Maintenance/Snapshot"),
    Buffer.from([0, 0, 0, 0, 2, 0]),
  ],
  ["a health check flagged compressed", grpcRequest("/grpc.health.v1.Health/Check"), flagged(1)],
  ["a Snapshot flagged compressed", grpcRequest("/etcdserverpb.Maintenance/Snapshot"), flagged(1)],
  ["a health check of two messages", grpcRequest("/grpc.health.v1.Health/Check"), Buffer.alloc(10)],
  // a deadline passed before the message came: grpc-go's transport answers, and resets the stream
  ["a grpc-timeout of 1n, the message not sent", grpcRequest(RANGE, [["grpc-timeout", "1n"]]), "open"],
  ["a grpc-timeout of 1n on a Watch", grpcRequest(WATCH, [["grpc-timeout", "1n"]]), "open"],
  [
    "a grpc-timeout of 1n on a LeaseKeepAlive",
    grpcRequest(LEASE_KEEP_ALIVE, [["grpc-timeout", "1n"]]),
    "open",
  ],
  [
    "a LeaseKeepAlive of content-type application/grpc+json",
    retyped("application/grpc+json", LEASE_KEEP_ALIVE),
    grpcMessage(""),
  ],
  // over --max-request-bytes: etcd's own check; over it and grpc-go's 512 KiB allowance: grpc-go's
  ["a Put over --max-request-bytes", grpcRequest("/etcdserverpb.KV/Put"), putOf(MAX_REQUEST_BYTES + 10)],
  [
    "a message over the receive limit",
    grpcRequest("/etcdserverpb.KV/Put"),
    prefixOnly(MAX_REQUEST_BYTES + 512 * 1024 + 1),
    true,
  ],
  // the same on calls forwarded to grpc-js, whose receive limit and text are grpc-go's
  ...["/grpc.health.v1.Health/Check", "/v3lockpb.Lock/Lock", LEASE_KEEP_ALIVE].map(
    (path): [string, HeaderField[], Buffer, boolean] => [
      `${path} over the receive limit`,
      grpcRequest(path),
      prefixOnly(MAX_REQUEST_BYTES + 512 * 1024 + 1),
      true,
    ],
  ),
  // a streaming call's request messages as grpc-go's receive reads them: the client's end partway
  // through one, a compressed flag or another payload format end the call with code 13
  ...[WATCH, LEASE_KEEP_ALIVE].flatMap((path): [string, HeaderField[], Buffer, boolean?][] => [
    [`${path} cut short`, grpcRequest(path), rangeRequest.subarray(0, 6)],
    [`${path}, a length prefix cut short`, grpcRequest(path), rangeRequest.subarray(0, 3)],
    [`${path} flagged compressed`, grpcRequest(path), flagged(1), true],
    [`${path} flagged compressed, then its end`, grpcRequest(path), flagged(1)],
    [`${path} of payload format 2`, grpcRequest(path), flagged(2), true],
    [
      `${path}, its second message cut short`,
      grpcRequest(path),
      Buffer.concat([grpcMessage(""), rangeRequest.subarray(0, 6)]),
    ],
  ]),
  // a Watch with a deadline is forwarded to grpc-js, where it goes on after the client's end
  [
    "a Watch with a grpc-timeout, cut short",
    grpcRequest(WATCH, [["grpc-timeout", "100S"]]),
    rangeRequest.subarray(0, 6),
  ],
  [
    "a Watch with a grpc-timeout, flagged compressed",
    grpcRequest(WATCH, [["grpc-timeout", "100S"]]),
    flagged(1),
    true,
  ],
  [
    "a Watch with a grpc-timeout, of tag 0",
    grpcRequest(WATCH, [["grpc-timeout", "100S"]]),
    grpcMessage(Buffer.from([0x00])),
    true,
  ],
  // bytes etcd's codec refuses: gogo's texts (golang/protobuf's for health) after grpc-go's prefix,
  // a unary call's or a stream's
  ...[
    RANGE,
    WATCH,
    LEASE_KEEP_ALIVE,
    "/grpc.health.v1.Health/Check",
    "/v3lockpb.Lock/Lock",
    "/etcdserverpb.Maintenance/Snapshot",
    "/v3electionpb.Election/Campaign",
  ].flatMap((path) =>
    unreadable.map(([name, bytes]): [string, HeaderField[], Buffer, boolean] => [
      `${path} of ${name}`,
      grpcRequest(path),
      grpcMessage(Buffer.from(bytes)),
      path === WATCH || path === LEASE_KEEP_ALIVE,
    ]),
  ),
];

/** Connection errors: grpc-go's h2c transport closes the connection without a GOAWAY. */
const connectionErrors: [string, Buffer][] = [
  ["an even stream id", frame(FrameType.HEADERS, Flags.END_HEADERS, 2, encodeLiterals(request))],
  ["a frame over 16 KiB", frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))],
  ["a header block HPACK cannot read", frame(FrameType.HEADERS, Flags.END_HEADERS, 1, Buffer.from([0xff]))],
  [
    "a CONTINUATION without HEADERS",
    frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, Buffer.from([0x82])),
  ],
  ["a PING on a stream", frame(FrameType.PING, 0, 1, Buffer.alloc(8))],
  ["a connection WINDOW_UPDATE of 0", frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4))],
];

/** What a member answers to each case; `fromEtcd`: the member is etcd (see streamSummary). */
async function outcomes(port: number, fromEtcd: boolean): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  // each malformed request on its own connection, then a good one on the same connection
  for (const [name, fields] of malformed) {
    const raw = await RawClient.open(port);
    raw.write(raw.headers(1, fields), raw.data(1, rangeRequest));
    raw.write(raw.headers(3, request), raw.data(3, rangeRequest));
    await raw.stream(3);
    seen[name] = { bad: streamSummary(raw, 1, fromEtcd), good: streamSummary(raw, 3, fromEtcd) };
    raw.socket.destroy();
  }
  {
    // unusual gRPC requests on one connection, one stream each; the connection serves the next
    const raw = await RawClient.open(port);
    let id = 1;
    for (const [name, fields, body, open] of unusual) {
      if (body === undefined) raw.write(raw.headers(id, fields, Flags.END_HEADERS | Flags.END_STREAM));
      else if (body === "open") raw.write(raw.headers(id, fields));
      else raw.write(raw.headers(id, fields), raw.data(id, body, open ? 0 : Flags.END_STREAM));
      await within(raw.stream(id));
      seen[name] = streamSummary(raw, id, fromEtcd && body !== "open" && !open);
      id += 2;
    }
    raw.write(raw.headers(id, request), raw.data(id, rangeRequest));
    await within(raw.stream(id));
    seen["after the unusual requests"] = streamSummary(raw, id, fromEtcd);
    raw.socket.destroy();
  }
  {
    // random request messages of unary methods: what etcd's codec refuses, and what the call answers
    const raw = await RawClient.open(port);
    const paths = [
      RANGE,
      "/etcdserverpb.KV/Put",
      "/etcdserverpb.KV/Txn",
      "/etcdserverpb.Auth/RoleGrantPermission",
      "/etcdserverpb.Auth/UserAdd",
      "/etcdserverpb.Lease/LeaseGrant",
      "/grpc.health.v1.Health/Check",
    ];
    let id = 1;
    for (const [i, bytes] of randomMessages(40 * paths.length).entries()) {
      const path = paths[i % paths.length];
      raw.write(raw.headers(id, grpcRequest(path)), raw.data(id, grpcMessage(bytes)));
      await within(raw.stream(id));
      seen[`${path} of random bytes ${bytes.toString("hex")}`] = streamSummary(raw, id, fromEtcd);
      id += 2;
    }
    raw.socket.destroy();
  }
  for (const [name, bytes] of connectionErrors) {
    const raw = await RawClient.open(port);
    raw.write(bytes);
    await within(raw.until(() => raw.closed, "the end of the connection"));
    seen[name] = { closed: raw.closed, goaway: raw.frames.some((f) => f.type === FrameType.GOAWAY) };
    raw.socket.destroy();
  }
  {
    // DATA after the client ended its side of a stream still open (a Watch)
    const raw = await RawClient.open(port);
    raw.write(raw.headers(1, grpcRequest(WATCH)), raw.data(1, grpcMessage(""), Flags.END_STREAM));
    raw.write(raw.data(1, grpcMessage(""), 0));
    await raw.frame(FrameType.RST_STREAM, 1);
    seen["DATA after END_STREAM"] = streamSummary(raw, 1);
    raw.socket.destroy();
  }
  {
    // a new request on a stream that is closed: the connection ends, the next stream is not served
    const raw = await RawClient.open(port);
    raw.write(raw.headers(1, request), raw.data(1, rangeRequest));
    await raw.stream(1);
    raw.write(raw.headers(1, request), raw.data(1, rangeRequest));
    raw.write(raw.headers(3, request), raw.data(3, rangeRequest));
    await within(raw.until(() => raw.closed, "the end of the connection"));
    seen["HEADERS on a closed stream"] = { closed: raw.closed, next: streamSummary(raw, 3, fromEtcd) };
    raw.socket.destroy();
  }
  {
    // pings faster than the policy allows while streams are open: the GOAWAY names the last stream
    const raw = await RawClient.open(port);
    raw.write(raw.headers(1, request), raw.data(1, rangeRequest));
    raw.write(raw.headers(3, request), raw.data(3, rangeRequest));
    raw.write(raw.headers(5, grpcRequest(WATCH)));
    await raw.stream(1);
    await raw.stream(3);
    for (let i = 0; i < 5; i++) raw.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    const goaway = await within(raw.goaway());
    seen.too_many_pings = goaway && { last: goaway.last, code: goaway.code, debug: goaway.debug };
    raw.socket.destroy();
  }
  {
    // answers: a native unary call, and calls forwarded to grpc-js (health, a LeaseKeepAlive the client ends)
    const raw = await RawClient.open(port);
    raw.write(raw.headers(1, request), raw.data(1, rangeRequest));
    raw.write(raw.headers(3, grpcRequest("/grpc.health.v1.Health/Check")), raw.data(3, grpcMessage("")));
    raw.write(raw.headers(5, grpcRequest(LEASE_KEEP_ALIVE)), raw.data(5, grpcMessage(""), Flags.END_STREAM));
    for (const id of [1, 3, 5]) await raw.stream(id);
    seen.answers = [1, 3, 5].map((id) => streamSummary(raw, id, fromEtcd));
    raw.socket.destroy();
  }
  for (const [name, tableSize] of [
    ["many answers", undefined],
    ["many answers, no HPACK table", 0],
  ] as const) {
    // answers one after another on one connection, some failing (an unknown method): the later
    // ones refer to what the first put in the client's HPACK table (unless its size is 0)
    const settings =
      tableSize === undefined ? undefined : settingsFrame([[Setting.HEADER_TABLE_SIZE, tableSize]]);
    const raw = await RawClient.open(port, settings);
    const ids = Array.from({ length: 12 }, (_, i) => 1 + 2 * i);
    for (const [i, id] of ids.entries()) {
      const fails = i % 4 === 2;
      raw.write(
        raw.headers(id, grpcRequest(fails ? UNKNOWN : RANGE)),
        raw.data(id, fails ? grpcMessage("") : rangeRequest),
      );
      await raw.stream(id);
    }
    seen[name] = ids.map((id) => streamSummary(raw, id, fromEtcd));
    if (tableSize === undefined) {
      // the encoded size of the last answer's headers and trailers: one byte a field, as grpc-go's
      seen[`${name}: bytes of the last header blocks`] = raw.frames
        .filter((f) => f.streamId === ids[ids.length - 1] && f.type === FrameType.HEADERS)
        .map((f) => f.payload.length);
    }
    raw.socket.destroy();
  }
  return seen;
}

/**
 * The answers to calls that wait on a member of two whose peer is down: with a short grpc-timeout,
 * and without one.
 */
async function waitingOutcomes(binary: Binary): Promise<Record<string, unknown>> {
  const members: Member[] = [];
  for (const name of ["a", "b"])
    members.push(
      await Member.create({
        binary,
        name,
        extraArgs: fastElections,
        clusterArgs: ["--initial-cluster-state", "new"],
        startTimeoutMs: 60_000,
      }),
    );
  const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  for (const m of members) m.initialCluster = initial;
  await Promise.all(members.map((m) => m.launch()));
  const [a, b] = members as [Member, Member];
  // a proposal the leader takes just as its peer goes (it steps down an election timeout or two
  // later, and the request timeout ends the wait with no leader known)
  const early = await RawClient.open(a.clientPort);
  await b.kill();
  early.write(
    early.headers(1, grpcRequest("/etcdserverpb.KV/Put")),
    early.data(1, grpcMessage(Buffer.from([0x0a, 0x01, 0x65, 0x12, 0x01, 0x62]))),
  );
  // the leader steps down once it has not heard from a quorum (CheckQuorum); then nothing is led
  await eventually(
    "the member alone to know no leader",
    async () => (/^etcd_server_has_leader 0$/m.test((await a.http("/metrics")).text) ? true : undefined),
    30_000,
  );
  const seen: Record<string, unknown> = {};
  const raw = await RawClient.open(a.clientPort);
  const calls: [string, string, Buffer][] = [
    ["a Put", "/etcdserverpb.KV/Put", grpcMessage(Buffer.from([0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]))],
    ["a linearizable Range", RANGE, rangeRequest],
    ["a LeaseGrant", "/etcdserverpb.Lease/LeaseGrant", grpcMessage(Buffer.from([0x08, 0x0a]))],
    ["a serializable Range", RANGE, grpcMessage(Buffer.from([0x0a, 0x01, 0x61, 0x38, 0x01]))],
  ];
  let id = 1;
  for (const [name, path, body] of calls) {
    raw.write(raw.headers(id, grpcRequest(path, [["grpc-timeout", "1S"]])), raw.data(id, body));
    await within(raw.stream(id));
    seen[name] = streamSummary(raw, id).filter((x) => typeof x !== "string" || x !== "DATA");
    id += 2;
  }
  // without a deadline of the client's: the request timeout (5 s and two election timeouts), at once
  const untimed: [string, string, Buffer][] = [
    ["a Put without a grpc-timeout", "/etcdserverpb.KV/Put", calls[0][2]],
    ["a linearizable Range without a grpc-timeout", RANGE, rangeRequest],
  ];
  const ids = untimed.map((_, i) => id + 2 * i);
  for (const [i, [, path, body]] of untimed.entries())
    raw.write(raw.headers(ids[i], grpcRequest(path)), raw.data(ids[i], body));
  for (const [i, [name]] of untimed.entries()) {
    await within(raw.stream(ids[i]), 30_000);
    seen[name] = streamSummary(raw, ids[i]);
  }
  raw.socket.destroy();
  await within(early.stream(1), 30_000);
  seen["a Put the leader took as its peer went"] = streamSummary(early, 1);
  early.socket.destroy();
  for (const m of members) await m.destroy();
  return seen;
}

/** A uint64 as a protobuf varint. */
function uvarint(n: bigint): Buffer {
  const out: number[] = [];
  for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80);
  out.push(Number(n));
  return Buffer.from(out);
}

/** Where the cluster cannot commit: the leader with its only peer gone, or the follower whose leader went. */
type Stranded = "leader" | "follower";

/**
 * The answers to calls whose grpc-timeout (500 ms) passes while they wait on a member of two that still
 * knows its leader but cannot commit: the leader whose peer is gone, or the follower whose leader is
 * (an election timeout of 3 s keeps both from noticing for the calls' time). Proposals, member changes
 * and a forwarded lease call end as etcd ends them; the others serve as before.
 */
async function strandedOutcomes(
  binary: Binary,
  asked: Stranded,
  env: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const members: Member[] = [];
  for (const name of ["a", "b"])
    members.push(
      await Member.create({
        binary,
        name,
        extraArgs: ["--heartbeat-interval", "100", "--election-timeout", "3000"],
        clusterArgs: ["--initial-cluster-state", "new"],
        startTimeoutMs: 60_000,
        env,
      }),
    );
  const initial = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  for (const m of members) m.initialCluster = initial;
  await Promise.all(members.map((m) => m.launch()));
  const leader = await eventually(
    "a leader",
    async () => {
      for (const m of members)
        if (/^etcd_server_is_leader 1$/m.test((await m.http("/metrics")).text)) return m;
      return undefined;
    },
    30_000,
  );
  const follower = members.find((m) => m !== leader) as Member;
  const listed = JSON.parse(
    (await leader.etcdctl(["member", "list", "-w", "json"])).stdout.replace(/"ID":(\d+)/g, '"ID":"$1"'),
  ) as { members: { name: string; ID: string }[] };
  const idOf = (m: Member) => BigInt(listed.members.find((x) => x.name === m.name)?.ID ?? "0");
  const [target, gone] = asked === "leader" ? [leader, follower] : [follower, leader];
  await gone.kill();
  // the member saw its peer's connections close (etcd's isConnectedSince reads when they did)
  await eventually(
    "the peer seen gone",
    async () => {
      const values = [
        ...(await target.http("/metrics")).text.matchAll(/^etcd_network_active_peers\{[^}]*\} (\d+)$/gm),
      ];
      return values.every((v) => v[1] === "0") ? true : undefined;
    },
    2_000,
  );
  const put = Buffer.from([0x0a, 0x01, 0x61, 0x12, 0x01, 0x62]);
  const calls: [string, string, Buffer][] = [
    ["a Put", "/etcdserverpb.KV/Put", put],
    ["a Txn", "/etcdserverpb.KV/Txn", Buffer.concat([Buffer.from([0x12, 0x08, 0x12, 0x06]), put])],
    ["a DeleteRange", "/etcdserverpb.KV/DeleteRange", Buffer.from([0x0a, 0x01, 0x61])],
    ["a Compact", "/etcdserverpb.KV/Compact", Buffer.from([0x08, 0x01])],
    ["a linearizable Range", RANGE, Buffer.from([0x0a, 0x01, 0x61])],
    ["a LeaseGrant", "/etcdserverpb.Lease/LeaseGrant", Buffer.from([0x08, 0x0a])],
    ["a LeaseRevoke", "/etcdserverpb.Lease/LeaseRevoke", Buffer.from([0x08, 0x01])],
    ["a LeaseTimeToLive", "/etcdserverpb.Lease/LeaseTimeToLive", Buffer.from([0x08, 0x01])],
    ["a UserAdd", "/etcdserverpb.Auth/UserAdd", Buffer.from([0x0a, 0x01, 0x75, 0x12, 0x01, 0x70])],
    ["an Alarm list", "/etcdserverpb.Maintenance/Alarm", Buffer.alloc(0)],
    [
      "a MemberUpdate",
      "/etcdserverpb.Cluster/MemberUpdate",
      Buffer.concat([
        Buffer.from([0x08]),
        uvarint(idOf(target)),
        Buffer.from([0x12, target.peerUrl.length]),
        Buffer.from(target.peerUrl),
      ]),
    ],
    [
      "a MemberRemove",
      "/etcdserverpb.Cluster/MemberRemove",
      Buffer.concat([Buffer.from([0x08]), uvarint(idOf(gone))]),
    ],
  ];
  const raw = await RawClient.open(target.clientPort);
  const ids = calls.map((_, i) => 1 + 2 * i);
  for (const [i, [, path, body]] of calls.entries())
    raw.write(
      raw.headers(ids[i], grpcRequest(path, [["grpc-timeout", "500m"]])),
      raw.data(ids[i], grpcMessage(body)),
    );
  const seen: Record<string, unknown> = {};
  for (const [i, [name]] of calls.entries()) {
    await within(raw.stream(ids[i]));
    seen[name] = streamSummary(raw, ids[i]).filter((x) => typeof x !== "string" || x !== "DATA");
  }
  raw.socket.destroy();
  for (const m of members) await m.destroy();
  return seen;
}

describe("raw HTTP/2 frames beside etcd", { timeout: 300_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "malformed requests, frames on ended or closed streams, pings and answers come back as etcd's",
    { timeout: 200_000 },
    async () => {
      assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
      const seen: Partial<Record<Binary, Record<string, unknown>>> = {};
      for (const binary of ["etcd", "rxetcd"] as Binary[]) {
        const m = await Member.start({
          binary,
          name: "n1",
          startTimeoutMs: 120_000,
          extraArgs: ["--max-request-bytes", String(MAX_REQUEST_BYTES)],
        });
        seen[binary] = await outcomes(m.clientPort, binary === "etcd");
        if (binary === "rxetcd") {
          // beyond etcd 3.4: a connection opening and resetting streams in a flood is ended
          const raw = await RawClient.open(m.clientPort);
          const flood: Buffer[] = [];
          for (let id = 1; id < 2 * 1500; id += 2)
            flood.push(raw.headers(id, request), frame(FrameType.RST_STREAM, 0, id, Buffer.alloc(4)));
          raw.write(...flood);
          const goaway = await within(raw.goaway());
          assert.equal(goaway?.code, ErrorCode.ENHANCE_YOUR_CALM, goaway?.debug ?? "no GOAWAY");
          raw.socket.destroy();
        }
        // the member serves the next client as before
        const put = await m.etcdctl(["put", "after", "frames"]);
        assert.equal(put.code, 0, put.stderr);
        await m.stop();
        await m.destroy();
      }
      const etcd = seen.etcd as Record<string, unknown>;
      // what etcd answered, so that the comparison is of something
      assert.deepEqual((etcd["an upper-case name"] as { bad: unknown }).bad, [
        `RST_STREAM ${ErrorCode.PROTOCOL_ERROR}`,
      ]);
      assert.deepEqual(etcd["DATA after END_STREAM"], [`RST_STREAM ${ErrorCode.STREAM_CLOSED}`]);
      assert.deepEqual(etcd["HEADERS on a closed stream"], { closed: true, next: [] });
      assert.deepEqual(etcd.too_many_pings, {
        last: 5,
        code: ErrorCode.ENHANCE_YOUR_CALM,
        debug: "too_many_pings",
      });
      assert.deepEqual(etcd["an unknown method"], [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "12"],
          ["grpc-message", "unknown method Nope for service etcdserverpb.KV"],
        ],
      ]);
      assert.deepEqual((etcd["an unknown lease's revoke"] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "5"],
        ["grpc-message", "etcdserver: requested lease not found"],
      ]);
      assert.deepEqual((etcd["content-type application/grpc;charset=UTF-8"] as HeaderField[][])[0], [
        [":status", "200"],
        ["content-type", "application/grpc+charset=UTF-8"],
      ]);
      assert.deepEqual(etcd["a malformed grpc-timeout"], [`RST_STREAM ${ErrorCode.PROTOCOL_ERROR}`]);
      assert.deepEqual(etcd["many answers: bytes of the last header blocks"], [2, 2]);
      assert.deepEqual(etcd["content-type application/json"], [`RST_STREAM ${ErrorCode.PROTOCOL_ERROR}`]);
      assert.deepEqual(etcd["JSON on a gateway path"], [`RST_STREAM ${ErrorCode.PROTOCOL_ERROR}`]);
      assert.deepEqual((etcd["an empty DATA ending the stream"] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "2"],
        ["grpc-message", "EOF"],
      ]);
      assert.deepEqual(etcd["a grpc-timeout of 1n, the message not sent"], [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "4"],
          ["grpc-message", "context deadline exceeded"],
        ],
        `RST_STREAM ${ErrorCode.NO_ERROR}`,
      ]);
      assert.deepEqual((etcd["a message over the receive limit"] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "8"],
        [
          "grpc-message",
          `grpc: received message larger than max (${MAX_REQUEST_BYTES + 512 * 1024 + 1} vs. ${MAX_REQUEST_BYTES + 512 * 1024})`,
        ],
      ]);
      assert.deepEqual(etcd[`${LEASE_KEEP_ALIVE}, its second message cut short`], [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
        ],
        "DATA",
        [
          ["grpc-status", "13"],
          ["grpc-message", "unexpected EOF"],
        ],
      ]);
      assert.deepEqual((etcd[`${LEASE_KEEP_ALIVE} of wire type 7`] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "13"],
        [
          "grpc-message",
          "grpc: failed to unmarshal the received message proto: wrong wireType = 7 for field ID",
        ],
      ]);
      assert.deepEqual((etcd[`${RANGE} of tag 0`] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "13"],
        [
          "grpc-message",
          "grpc: error unmarshalling request: proto: RangeRequest: illegal tag 0 (wire type 0)",
        ],
      ]);
      assert.deepEqual(etcd["an even stream id"], { closed: true, goaway: false });
      // etcd's streams past their deadline race their receive loop's error (code 4) against the
      // context's (code 2): Watch answers 2 about one time in six, LeaseKeepAlive 4 rarely if ever.
      // Each side's answer is one of the two (rxetcd's the more frequent), then the rest compares.
      const rxetcd = seen.rxetcd as Record<string, unknown>;
      const statusOf = (answers: Record<string, unknown>, key: string) =>
        ((answers[key] as HeaderField[][])[0] as HeaderField[])[2]?.[1];
      for (const [key, usual] of [
        ["a grpc-timeout of 1n on a Watch", "4"],
        ["a grpc-timeout of 1n on a LeaseKeepAlive", "2"],
      ]) {
        const code = statusOf(etcd, key) ?? "";
        assert.ok(["2", "4"].includes(code), JSON.stringify(etcd[key]));
        assert.equal(statusOf(rxetcd, key), usual, JSON.stringify(rxetcd[key]));
        const asUsual = JSON.stringify(etcd[key]).replace(
          `"grpc-status","${code}"`,
          `"grpc-status","${usual}"`,
        );
        assert.deepEqual(rxetcd[key], JSON.parse(asUsual), key);
        delete rxetcd[key];
        delete etcd[key];
      }
      // the cases that differ alone, so that a failure names them (the whole record is hundreds of lines)
      const differ = (side: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(side).filter(([k, v]) => {
            try {
              assert.deepEqual(rxetcd[k], etcd[k]);
              return false;
            } catch {
              return v !== undefined;
            }
          }),
        );
      assert.deepEqual(Object.keys(rxetcd).sort(), Object.keys(etcd).sort());
      const differing = { rxetcd: differ(rxetcd), etcd: differ(etcd) };
      assert.deepEqual(differing.rxetcd, differing.etcd, `differing cases: ${JSON.stringify(differing)}`);
    },
  );

  e2eTest(
    "calls that wait on a member without a leader, past a grpc-timeout or the request timeout, end as etcd's",
    { timeout: 200_000 },
    async () => {
      assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
      const etcd = await waitingOutcomes("etcd");
      const rxetcd = await waitingOutcomes("rxetcd");
      // what etcd answered: its handler returns the context's error as it is (grpc-go's code 2)
      assert.deepEqual(etcd["a Put"], [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "2"],
          ["grpc-message", "context deadline exceeded"],
        ],
      ]);
      assert.equal((etcd["a serializable Range"] as HeaderField[][]).at(-1)?.[0]?.[1], "0");
      // a proposal no leader took: the context's error again; a read: etcd's request timeout
      assert.deepEqual(etcd["a Put without a grpc-timeout"], etcd["a Put"]);
      assert.deepEqual((etcd["a linearizable Range without a grpc-timeout"] as HeaderField[][])[0].slice(2), [
        ["grpc-status", "14"],
        ["grpc-message", "etcdserver: request timed out"],
      ]);
      assert.deepEqual(etcd["a Put the leader took as its peer went"], [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", "14"],
          ["grpc-message", "etcdserver: request timed out"],
        ],
      ]);
      assert.deepEqual(rxetcd, etcd);
    },
  );

  for (const asked of ["leader", "follower"] as Stranded[])
    e2eTest(
      `calls whose grpc-timeout passes while the ${asked} of two waits on a lost peer end as etcd's`,
      { timeout: 200_000 },
      async () => {
        assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
        const etcd = await strandedOutcomes("etcd", asked);
        const rxetcd = await strandedOutcomes("rxetcd", asked);
        // and the client port served from the HTTP/2 thread, which hands the calls to the main thread
        const fromThread = await strandedOutcomes("rxetcd", asked, { RXETCD_CLIENT_THREAD: "1" });
        // what etcd answered: a proposal raft took fails as parseProposeCtxErr says when the client's
        // deadline passes (the request timeout's error, sooner); a read gets the context's error
        const lost = [
          ["grpc-status", "14"],
          ["grpc-message", "etcdserver: request timed out, possibly due to connection lost"],
        ];
        for (const call of ["a Put", "a LeaseGrant", "a MemberUpdate"])
          assert.deepEqual((etcd[call] as HeaderField[][])[0].slice(2), lost, call);
        assert.deepEqual((etcd["a linearizable Range"] as HeaderField[][])[0].slice(2), [
          ["grpc-status", "2"],
          ["grpc-message", "context deadline exceeded"],
        ]);
        assert.deepEqual(rxetcd, etcd);
        // (Node's HTTP/2 there adds a date field to every header block)
        const undated = JSON.parse(JSON.stringify(fromThread), (_k, v) =>
          Array.isArray(v) ? v.filter((f) => !(Array.isArray(f) && f[0] === "date")) : v,
        );
        assert.deepEqual(undated, etcd, "from the HTTP/2 thread");
      },
    );
});
