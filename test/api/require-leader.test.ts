// clientv3's `hasleader` metadata on streams, as etcd's stream interceptor treats it: refused at the
// start without a leader, and ended with "etcdserver: no leader" when the member loses its leader for
// long (the in-memory member's leaderLoss$ plays that moment); streams without it stay open.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ClientDuplexStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  LeaseClient,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  WatchClient,
  type WatchRequest,
  type WatchResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { ElectionClient, type LeaderResponse } from "../../src/gen/v3electionpb/v3election.js";
import { type Harness, http, startHarness } from "./harness.js";

const UNAVAILABLE = 14;

function hasLeader(): Metadata {
  const md = new Metadata();
  md.set("hasleader", "true");
  return md;
}

/** A stream's responses and how it ended. */
function follow<Req, Resp>(stream: ClientDuplexStream<Req, Resp>) {
  const responses: Resp[] = [];
  const waiters: Array<() => void> = [];
  stream.on("data", (r: Resp) => {
    responses.push(r);
    for (const w of waiters.splice(0)) w();
  });
  const ended = new Promise<ServiceError | "end">((resolve) => {
    stream.on("error", (err: ServiceError) => resolve(err));
    stream.on("end", () => resolve("end"));
  });
  return {
    responses,
    ended,
    async next(count: number): Promise<Resp[]> {
      while (responses.length < count) await new Promise<void>((r) => waiters.push(r));
      return responses;
    },
  };
}

const createWatch = (key: string): WatchRequest =>
  ({
    createRequest: {
      key: Buffer.from(key),
      rangeEnd: Buffer.alloc(0),
      startRevision: 0,
      progressNotify: false,
      filters: [],
      prevKv: false,
      watchId: 0,
      fragment: false,
    },
  }) as WatchRequest;

describe("hasleader streams", { timeout: 30_000 }, () => {
  let h: Harness;
  let watch: WatchClient;
  let lease: LeaseClient;
  let election: InstanceType<typeof ElectionClient>;
  before(async () => {
    h = await startHarness();
    watch = new WatchClient(h.hostPort, credentials.createInsecure());
    lease = new LeaseClient(h.hostPort, credentials.createInsecure());
    election = new ElectionClient(h.hostPort, credentials.createInsecure());
  });
  after(async () => {
    watch.close();
    lease.close();
    election.close();
    await h.close();
  });

  it("a watch opened with hasleader ends with etcd's no-leader error; one without it keeps its events", async () => {
    const w1 = watch.watch(hasLeader());
    const w2 = watch.watch();
    const f1 = follow<WatchRequest, WatchResponse>(w1);
    const f2 = follow<WatchRequest, WatchResponse>(w2);
    w1.write(createWatch("a"));
    w2.write(createWatch("a"));
    assert.equal((await f1.next(1))[0]?.created, true);
    assert.equal((await f2.next(1))[0]?.created, true);

    h.api.leaderLoss$.next();
    const end = await f1.ended;
    assert.notEqual(end, "end");
    assert.equal((end as ServiceError).code, UNAVAILABLE);
    assert.equal((end as ServiceError).details, "etcdserver: no leader");

    await h.api.put({
      key: Buffer.from("a"),
      value: Buffer.from("still watched"),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    });
    const events = await f2.next(2);
    assert.equal(events[1]?.events[0]?.kv?.value.toString(), "still watched");
    w2.cancel();
  });

  it("a hasleader watch on a member without a leader is refused at once", async () => {
    h.api.leaderKnown = false;
    try {
      const f = follow<WatchRequest, WatchResponse>(watch.watch(hasLeader()));
      const end = await f.ended;
      assert.notEqual(end, "end");
      assert.equal((end as ServiceError).code, UNAVAILABLE);
      assert.equal((end as ServiceError).details, "etcdserver: no leader");
    } finally {
      h.api.leaderKnown = true;
    }
  });

  /** How an Election.Observe stream ended (it is refused before any answer in these tests). */
  function observeEnd(md?: Metadata): Promise<ServiceError | "end"> {
    const stream = md
      ? election.observe({ name: Buffer.from("e") }, md)
      : election.observe({ name: Buffer.from("e") });
    return new Promise((resolve) => {
      stream.on("data", (_: LeaderResponse) => {});
      stream.on("error", (err: ServiceError) => resolve(err));
      stream.on("end", () => resolve("end"));
    });
  }

  it("Election.Observe passes the stream checks: hasleader without a leader, and a learner", async () => {
    h.api.leaderKnown = false;
    try {
      const end = await observeEnd(hasLeader());
      assert.notEqual(end, "end");
      assert.equal((end as ServiceError).code, UNAVAILABLE);
      assert.equal((end as ServiceError).details, "etcdserver: no leader");
    } finally {
      h.api.leaderKnown = true;
    }
    h.api.learner = true;
    try {
      const end = await observeEnd();
      assert.notEqual(end, "end");
      assert.equal((end as ServiceError).details, "etcdserver: rpc not supported for learner");
    } finally {
      h.api.learner = false;
    }
  });

  it("a hasleader keep-alive stream ends the same way", async () => {
    const ka = lease.leaseKeepAlive(hasLeader());
    const f = follow<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(ka);
    ka.write({ ID: 777n });
    await f.next(1);
    h.api.leaderLoss$.next();
    const end = await f.ended;
    assert.notEqual(end, "end");
    assert.equal((end as ServiceError).details, "etcdserver: no leader");
  });

  it("the cancelled streams count as Unavailable in grpc_server_handled_total", async () => {
    const text = (await http(h.url, "/metrics")).body;
    const line = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("grpc_server_handled_total{") &&
          l.includes('grpc_method="Watch"') &&
          l.includes('grpc_code="Unavailable"'),
      );
    assert.ok(line, "no Unavailable line for Watch");
    // one cancelled mid-stream, one refused at the start
    assert.equal(Number(line.split(" ").at(-1)), 2);
  });
});
