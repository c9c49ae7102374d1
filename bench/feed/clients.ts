// N feed clients in one process, for bench:feed: each subscribes to every topic and every key, and
// acknowledges batches as they arrive (as a client that keeps up does: every 8th, as FeedClient).
//
// They speak the socket.io wire protocol (engine.io 4 over a WebSocket) directly instead of through
// socket.io-client, and look only at each message's first bytes: a hundred full clients decoding
// every batch would need more CPU than the member they measure, on a machine the two share. Client 0
// parses its batches, to count the events.
//
// With --encoding deflate (the default, as FeedClient) a batch arrives as socket.io's binary event: a text
// message announcing one attachment, then the deflated JSON as a binary message; client 0 inflates it.
//
//   tsx bench/feed/clients.ts --endpoint http://127.0.0.1:2379 --clients 100 [--encoding deflate|json]
//
// Prints "ready N" once every client has its initial state; when stdin closes (or on SIGTERM) prints
// one JSON line with what was received and exits.
import { inflateSync } from "node:zlib";
import WebSocket from "ws";
import { DEFAULT_ACK_EVERY } from "../../src/feed/client.js";
import {
  ALL_TOPICS,
  FEED_PATH,
  FeedEncoding,
  FeedMessages,
  type Subscription,
} from "../../src/feed/protocol.js";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const endpoint = new URL(flag("--endpoint", "http://127.0.0.1:2379"));
const count = Number(flag("--clients", "100"));
// as the repository's FeedClient does
const ackEvery = Number(flag("--ack-every", String(DEFAULT_ACK_EVERY)));
const encoding = flag("--encoding", "deflate");
if (!Number.isInteger(count) || count < 1 || !FeedEncoding.is(encoding)) {
  console.error("usage: clients.ts --endpoint URL --clients N [--encoding deflate|json]");
  process.exit(2);
}

const subscription: Subscription = {
  topics: [...ALL_TOPICS],
  keys: [{ key: "", prefix: true }],
  encoding,
};
/** `bytes`: what client 0 received (WebSocket payloads), as each client did. */
const totals = { batches: 0, events: 0, bytes: 0, dropped: 0, disconnects: 0, errors: 0 };
const sockets: WebSocket[] = [];
let initial = 0;

// engine.io packet types (first character) and socket.io packet types (second, in a "4" message)
const OPEN = 0x30; // "0"
const PING = 0x32; // "2"
const MESSAGE = 0x34; // "4"
const SIO_CONNECT = 0x30; // "40"
const SIO_EVENT = 0x32; // "42"
const SIO_CONNECT_ERROR = 0x34; // "44"
const SIO_BINARY_EVENT = 0x35; // "45"
const eventPrefix = (name: string) => Buffer.from(`42["${name}"`);
const BATCH = eventPrefix(FeedMessages.batch);
// a binary event with one attachment: "451-" then the event's JSON with a placeholder for it
const BINARY_BATCH = Buffer.from(`451-["${FeedMessages.batch}"`);
const DROPPED = eventPrefix(FeedMessages.dropped);
const FEED_ERROR = eventPrefix(FeedMessages.error);
const startsWith = (data: Buffer, prefix: Buffer) =>
  data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);

const wsUrl = `${endpoint.protocol === "https:" ? "wss" : "ws"}://${endpoint.host}${FEED_PATH}/?EIO=4&transport=websocket`;
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(wsUrl);
  let received = 0;
  let attachmentIsBatch = false;
  const batchReceived = (events: () => number) => {
    received++;
    totals.batches++;
    if (i === 0) totals.events += events();
    if (received % ackEvery === 0) ws.send(`42${JSON.stringify([FeedMessages.ack, received])}`);
    if (received === 1 && ++initial === count) console.log(`ready ${count}`);
  };
  const eventsIn = (json: string) => (JSON.parse(json) as { events: unknown[] }).events.length;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (i === 0) totals.bytes += data.length;
    if (isBinary) {
      // engine.io sends a binary message as it is: the attachment announced by the last binary event
      if (attachmentIsBatch) batchReceived(() => eventsIn(inflateSync(data).toString("utf8")));
      attachmentIsBatch = false;
      return;
    }
    const type = data[0];
    if (type === PING) ws.send("3");
    else if (type === OPEN) ws.send("40");
    else if (type !== MESSAGE) return;
    else if (data[1] === SIO_CONNECT) ws.send(`42${JSON.stringify([FeedMessages.subscribe, subscription])}`);
    else if (data[1] === SIO_CONNECT_ERROR) totals.errors++;
    else if (data[1] === SIO_BINARY_EVENT) attachmentIsBatch = startsWith(data, BINARY_BATCH);
    else if (data[1] !== SIO_EVENT) return;
    else if (startsWith(data, BATCH))
      batchReceived(() => {
        const [, batch] = JSON.parse(data.toString("utf8", 2)) as [string, { events: unknown[] }];
        return batch.events.length;
      });
    else if (startsWith(data, DROPPED)) totals.dropped++;
    else if (startsWith(data, FEED_ERROR)) totals.errors++;
  });
  ws.on("error", () => totals.errors++);
  ws.on("close", () => totals.disconnects++);
  sockets.push(ws);
}

let done = false;
function finish(): void {
  if (done) return;
  done = true;
  console.log(JSON.stringify(totals));
  for (const ws of sockets) ws.terminate();
  setTimeout(() => process.exit(0), 50);
}
process.on("SIGTERM", finish);
process.stdin.on("end", finish);
process.stdin.resume();
