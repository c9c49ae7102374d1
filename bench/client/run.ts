import { credentials } from "@grpc/grpc-js";
import { SingleBar } from "cli-progress";
import { KVClient, WatchClient, type WatchResponse } from "../../src/gen/etcdserverpb/rpc.js";
import type { BenchOptions } from "./options.js";
import { type BenchSummary, LatencyStats } from "./stats.js";

function keyOf(i: number, size: number): Buffer {
  const k = Buffer.alloc(size);
  k.writeUIntBE(i % 2 ** 48, Math.max(0, size - 6), Math.min(6, size));
  return k;
}

function unary<Req, Res>(
  call: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => call(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Runs one workload against the endpoints and returns its figures. */
export async function runBench(opts: BenchOptions): Promise<BenchSummary> {
  const kvs = Array.from(
    { length: opts.conns },
    (_, i) =>
      new KVClient(opts.endpoints[i % opts.endpoints.length], credentials.createInsecure(), {
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
      }),
  );
  const value = Buffer.alloc(opts.valSize, 0x61);
  const stats = new LatencyStats();
  const bar = opts.progress
    ? new SingleBar({ format: " {bar} {percentage}% | {value}/{total} | {rps} req/s" })
    : undefined;
  let next = 0;
  let done = 0;
  const start = performance.now();
  bar?.start(opts.total, 0, { rps: 0 });

  const keyFor = (n: number) =>
    keyOf(
      opts.sequentialKeys ? n % opts.keySpaceSize : Math.floor(Math.random() * opts.keySpaceSize),
      opts.keySize,
    );

  if (opts.workload === "range") {
    // ranges read a key that exists
    await unary(kvs[0].put.bind(kvs[0]), {
      key: keyOf(0, opts.keySize),
      value,
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    });
  }

  const watcher = opts.workload === "watch-latency" ? await openWatch(opts) : undefined;

  const one = async (n: number, kv: InstanceType<typeof KVClient>) => {
    const t0 = performance.now();
    switch (opts.workload) {
      case "put":
        await unary(kv.put.bind(kv), {
          key: keyFor(n),
          value,
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        });
        break;
      case "range":
        await unary(kv.range.bind(kv), {
          key: keyOf(0, opts.keySize),
          rangeEnd: Buffer.alloc(0),
          limit: 0,
          revision: 0,
          sortOrder: 0,
          sortTarget: 0,
          serializable: opts.consistency === "s",
          keysOnly: false,
          countOnly: false,
          minModRevision: 0,
          maxModRevision: 0,
          minCreateRevision: 0,
          maxCreateRevision: 0,
        });
        break;
      case "txn-put":
        await unary(kv.txn.bind(kv), {
          compare: [],
          success: [
            {
              requestPut: {
                key: keyFor(n),
                value,
                lease: 0n,
                prevKv: false,
                ignoreValue: false,
                ignoreLease: false,
              },
            },
          ],
          failure: [],
        });
        break;
      case "watch-latency": {
        const key = keyOf(n % 1000, opts.keySize);
        const seen = watcher!.next(key);
        await unary(kv.put.bind(kv), {
          key,
          value,
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        });
        await seen;
        break;
      }
    }
    stats.record(performance.now() - t0);
  };

  await Promise.all(
    Array.from({ length: opts.workload === "watch-latency" ? 1 : opts.clients }, async (_, c) => {
      const kv = kvs[c % kvs.length];
      for (;;) {
        const n = next++;
        if (n >= opts.total) return;
        try {
          await one(n, kv);
        } catch (err) {
          stats.recordError(err);
        }
        done++;
        if (bar && done % 100 === 0)
          bar.update(done, { rps: Math.round(done / ((performance.now() - start) / 1000)) });
      }
    }),
  );
  const elapsed = performance.now() - start;
  bar?.update(done, { rps: Math.round(done / (elapsed / 1000)) });
  bar?.stop();
  watcher?.close();
  for (const kv of kvs) kv.close();
  return stats.summary(elapsed);
}

/** One watch on the whole key space; `next(key)` resolves when the next event for that key arrives. */
async function openWatch(opts: BenchOptions) {
  const client = new WatchClient(opts.endpoints[0], credentials.createInsecure());
  const stream = client.watch();
  const waiting = new Map<string, () => void>();
  await new Promise<void>((resolve, reject) => {
    stream.once("error", reject);
    stream.on("data", (resp: WatchResponse) => {
      if (resp.created) resolve();
      for (const ev of resp.events) {
        const k = ev.kv?.key.toString("hex") ?? "";
        const w = waiting.get(k);
        if (w) {
          waiting.delete(k);
          w();
        }
      }
    });
    stream.write({
      createRequest: {
        key: Buffer.from([0]),
        rangeEnd: Buffer.from([0]),
        startRevision: 0,
        progressNotify: false,
        filters: [],
        prevKv: false,
        watchId: 0,
        fragment: false,
      },
    });
  });
  return {
    next: (key: Buffer) => new Promise<void>((resolve) => waiting.set(key.toString("hex"), resolve)),
    close: () => {
      stream.end();
      client.close();
    },
  };
}
