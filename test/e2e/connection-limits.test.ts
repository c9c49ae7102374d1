// Bounds on what one client connection holds (--max-watchers-per-connection,
// --max-lease-keepalive-streams-per-connection, rxetcd's own): a client sending 100k watch creates on one
// stream gets its watchers up to the bound and "etcdserver: too many requests" for the rest, while other
// clients are served and the member's memory stays bounded; keep-alive streams past the bound end with
// ResourceExhausted; places come back when streams end. --max-concurrent-streams (etcd's) is advertised.
import assert from "node:assert/strict";
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { after, describe } from "node:test";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  KVService,
  LeaseKeepAliveRequest,
  LeaseService,
  RangeRequest,
  WatchRequest,
  WatchResponse,
  WatchService,
} from "../../src/gen/etcdserverpb/rpc.js";
import { destroyAllMembers, e2eTest, Member, sleep, startMembersOnce } from "./harness.js";
import { rssBytes } from "./hostile.js";

const MAX_WATCHERS = 1000;
const MAX_KEEPALIVE_STREAMS = 4;
const CREATES = 100_000;
const MB = 1024 * 1024;

/** gRPC's length-prefixed framing of one message. */
function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** What a watch stream answered to its creates. */
interface CreateAnswers {
  created: number;
  refused: number;
  reasons: Map<string, number>;
  ended: boolean;
}

/**
 * Watch streams over one HTTP/2 connection, framed by hand: a client library's own per-message costs
 * would make the client, not the member, the slow side of a 100k-message flood.
 */
class RawWatchConnection {
  private readonly session: ClientHttp2Session;
  constructor(endpoint: string) {
    this.session = http2Connect(`http://${endpoint}`);
    this.session.on("error", () => {});
  }

  watch() {
    const stream = this.session.request({
      ":method": "POST",
      ":path": WatchService.watch.path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const answers: CreateAnswers = { created: 0, refused: 0, reasons: new Map(), ended: false };
    const waiters: Array<() => void> = [];
    const wake = () => {
      for (const w of waiters.splice(0)) w();
    };
    let pending: Buffer = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const size = pending.readUInt32BE(1);
        if (pending.length < 5 + size) break;
        const r = WatchResponse.decode(pending.subarray(5, 5 + size));
        pending = pending.subarray(5 + size);
        if (r.created && !r.canceled) answers.created++;
        else if (r.created) {
          answers.refused++;
          answers.reasons.set(r.cancelReason, (answers.reasons.get(r.cancelReason) ?? 0) + 1);
        }
      }
      wake();
    });
    const end = () => {
      answers.ended = true;
      wake();
    };
    stream.on("close", end);
    stream.on("error", end);
    return {
      answers,
      /** Sends `n` creates, a few thousand per write, as fast as the connection takes them. */
      async createMany(n: number, prefix: string): Promise<void> {
        for (let i = 0; i < n; ) {
          const batch: Buffer[] = [];
          for (const last = Math.min(n, i + 2000); i < last; i++) {
            const req = WatchRequest.fromPartial({ createRequest: { key: Buffer.from(`${prefix}/${i}`) } });
            batch.push(grpcFrame(WatchService.watch.requestSerialize(req as WatchRequest)));
          }
          if (!stream.write(Buffer.concat(batch)))
            await new Promise<void>((resolve) => {
              stream.once("drain", resolve);
              stream.once("close", resolve);
            });
        }
      },
      /** Waits until `n` creates were answered (or the stream ended). */
      async answered(n: number, timeoutMs: number): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (answers.created + answers.refused < n && !answers.ended) {
          if (Date.now() > deadline)
            throw new Error(`only ${answers.created + answers.refused} of ${n} creates answered`);
          await new Promise<void>((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, 1000);
          });
        }
      },
      cancel: () => stream.close(),
    };
  }

  close(): void {
    this.session.destroy();
  }
}

/** One gRPC connection (a grpc-js client is one HTTP/2 connection) for keep-alive streams. */
class Connection {
  private readonly client: Client;
  constructor(endpoint: string) {
    this.client = new Client(endpoint, credentials.createInsecure(), {
      // every call of this client on one connection (no channel pool)
      "grpc.use_local_subchannel_pool": 1,
    });
  }

  /** Opens a LeaseKeepAlive stream and sends one keep-alive: its status code if it ended within `waitMs`. */
  keepAlive(waitMs: number): Promise<{ code: number | undefined; details: string; cancel: () => void }> {
    const call = this.client.makeBidiStreamRequest(
      LeaseService.leaseKeepAlive.path,
      (r: LeaseKeepAliveRequest) => LeaseService.leaseKeepAlive.requestSerialize(r),
      (b: Buffer) => b,
      new Metadata(),
      {},
    );
    return new Promise((resolve) => {
      let settled = false;
      const settle = (code: number | undefined, details: string) => {
        if (settled) return;
        settled = true;
        resolve({ code, details, cancel: () => call.cancel() });
      };
      call.on("data", () => {});
      call.on("error", (err: ServiceError) => settle(err.code, err.details));
      call.write(LeaseKeepAliveRequest.fromPartial({ ID: 1n }));
      setTimeout(() => settle(undefined, ""), waitMs);
    });
  }

  close(): void {
    this.client.close();
  }
}

describe("bounds per client connection", () => {
  let m: Member;
  startMembersOnce(async () => {
    m = await Member.start({
      extraArgs: [
        "--max-watchers-per-connection",
        String(MAX_WATCHERS),
        "--max-lease-keepalive-streams-per-connection",
        String(MAX_KEEPALIVE_STREAMS),
        "--max-concurrent-streams",
        "100",
      ],
    });
  });
  after(async () => {
    await destroyAllMembers();
  });

  e2eTest(
    `${CREATES} watch creates on one stream: refused past the bound, others served, memory bounded`,
    { timeout: 600_000 },
    async () => {
      await m.etcdctl(["put", "k", "v0"]);
      await sleep(500);
      const before = rssBytes(m.pid as number);
      const hostile = new RawWatchConnection(m.endpoint);
      const other = new RawWatchConnection(m.endpoint);
      try {
        const flood = hostile.watch();
        const sending = flood.createMany(CREATES, "w");
        // while the flood goes on, another client's writes and watch are served
        const theirs = other.watch();
        await theirs.createMany(1, "k");
        await theirs.answered(1, 60_000);
        assert.equal(theirs.answers.created, 1, "another connection's watch was refused");
        const put = await m.etcdctl(["put", "k", "v1"]);
        assert.equal(put.code, 0, `a write failed during the flood: ${put.stderr}`);
        await sending;
        await flood.answered(CREATES, 540_000);
        const peak = rssBytes(m.pid as number);
        console.log(
          `${CREATES} creates on one stream: ${flood.answers.created} created, ${flood.answers.refused} refused ` +
            `${JSON.stringify(Object.fromEntries(flood.answers.reasons))}; RSS ${(before / MB).toFixed(1)} -> ` +
            `${(peak / MB).toFixed(1)} MB`,
        );
        assert.equal(flood.answers.created, MAX_WATCHERS);
        assert.equal(flood.answers.refused, CREATES - MAX_WATCHERS);
        assert.deepEqual([...flood.answers.reasons.keys()], ["etcdserver: too many requests"]);
        // a second stream on the same connection shares the bound
        const second = hostile.watch();
        await second.createMany(1, "again");
        await second.answered(1, 30_000);
        assert.equal(second.answers.refused, 1, "a second stream on the connection got past the bound");
        // the flood's watchers give their places back when its stream ends
        flood.cancel();
        second.cancel();
        await sleep(1000);
        const third = hostile.watch();
        await third.createMany(10, "later");
        await third.answered(10, 30_000);
        assert.equal(third.answers.created, 10, "places were not given back when the stream ended");
        third.cancel();
        assert.ok(
          peak - before < 96 * MB,
          `the member grew by ${((peak - before) / MB).toFixed(1)} MB under ${CREATES} watch creates`,
        );
        assert.equal(m.running, true);
      } finally {
        hostile.close();
        other.close();
      }
    },
  );

  e2eTest("keep-alive streams past the bound end with etcd's 'too many requests'", {}, async () => {
    const grant = await m.etcdctl(["lease", "grant", "60"]);
    assert.equal(grant.code, 0, grant.stderr);
    const hostile = new Connection(m.endpoint);
    const other = new Connection(m.endpoint);
    try {
      const open = [];
      for (let i = 0; i < MAX_KEEPALIVE_STREAMS; i++) {
        const s = await hostile.keepAlive(300);
        assert.equal(s.code, undefined, `keep-alive stream ${i + 1} ended: ${s.details}`);
        open.push(s);
      }
      const refused = await hostile.keepAlive(5000);
      assert.equal(refused.code, 8, "ResourceExhausted");
      assert.equal(refused.details, "etcdserver: too many requests");
      // another connection is not affected
      const theirs = await other.keepAlive(300);
      assert.equal(theirs.code, undefined, theirs.details);
      theirs.cancel();
      // a stream that ends gives its place back
      open.pop()?.cancel();
      await sleep(500);
      const again = await hostile.keepAlive(300);
      assert.equal(again.code, undefined, again.details);
      again.cancel();
      for (const s of open) s.cancel();
    } finally {
      hostile.close();
      other.close();
    }
  });

  e2eTest(
    "gRPC header lists as grpc-go takes them: thousands of metadata fields, a 100 KB value",
    {},
    async () => {
      // etcd's grpc-go server takes lists up to 16 MiB with any number of fields; Node's HTTP/2
      // defaults refused more than 128 fields (ENHANCE_YOUR_CALM, code 8 at the client)
      const client = new Client(m.endpoint, credentials.createInsecure());
      const range = KVService.range;
      const call = (metadata: Metadata) =>
        new Promise<ServiceError | null>((resolve) =>
          client.makeUnaryRequest(
            range.path,
            range.requestSerialize,
            range.responseDeserialize,
            RangeRequest.fromPartial({ key: Buffer.from("a") }),
            metadata,
            { deadline: Date.now() + 10_000 },
            (err) => resolve(err),
          ),
        );
      try {
        const many = new Metadata();
        for (let i = 0; i < 5000; i++) many.set(`x-field-${i}`, "v");
        assert.equal((await call(many))?.details, undefined);
        const large = new Metadata();
        large.set("x-large", "a".repeat(100_000));
        large.set("x-also", "b".repeat(60_000));
        assert.equal((await call(large))?.details, undefined);
      } finally {
        client.close();
      }
      assert.equal(m.running, true);
    },
  );

  e2eTest("--max-concurrent-streams is advertised in the server's HTTP/2 settings", {}, async () => {
    const session = http2Connect(`http://${m.endpoint}`);
    try {
      // the member's own settings follow the client's first request
      const limit = new Promise<number | undefined>((resolve, reject) => {
        session.on("remoteSettings", (s) => {
          if (s.maxConcurrentStreams !== undefined && s.maxConcurrentStreams < 2 ** 32 - 1)
            resolve(s.maxConcurrentStreams);
        });
        session.once("error", reject);
        setTimeout(() => resolve(undefined), 10_000);
      });
      const req = session.request({ ":path": "/health", ":method": "GET" });
      req.resume();
      req.end();
      assert.equal(await limit, 100);
    } finally {
      session.destroy();
    }
  });
});
