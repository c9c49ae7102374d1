// N feed clients in one process, for bench:feed: each subscribes to every topic and every key, and
// acknowledges batches as they arrive (as a client that keeps up does: every 8th, as FeedClient).
//
// They speak the socket.io wire protocol (engine.io 4 over a WebSocket) directly instead of through
// socket.io-client, and look only at each message's first bytes: a hundred full clients decoding
// every batch would need more CPU than the member they measure, on a machine the two share. Client 0
// parses its batches, to count the events.
//
//   tsx bench/feed/clients.ts --endpoint http://127.0.0.1:2379 --clients 100
//
// Prints "ready N" once every client has its initial state; when stdin closes (or on SIGTERM) prints
// one JSON line with what was received and exits.
import WebSocket from "ws";
import { DEFAULT_ACK_EVERY } from "../../src/feed/client.js";
import { ALL_TOPICS, FEED_PATH, FeedMessages, type Subscription } from "../../src/feed/protocol.js";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const endpoint = new URL(flag("--endpoint", "http://127.0.0.1:2379"));
const count = Number(flag("--clients", "100"));
// as the repository's FeedClient does
const ackEvery = Number(flag("--ack-every", String(DEFAULT_ACK_EVERY)));
if (!Number.isInteger(count) || count < 1) {
  console.error("usage: clients.ts --endpoint URL --clients N");
  process.exit(2);
}

const subscription: Subscription = { topics: [...ALL_TOPICS], keys: [{ key: "", prefix: true }] };
const totals = { batches: 0, events: 0, dropped: 0, disconnects: 0, errors: 0 };
const sockets: WebSocket[] = [];
let initial = 0;

// engine.io packet types (first character) and socket.io packet types (second, in a "4" message)
const OPEN = 0x30; // "0"
const PING = 0x32; // "2"
const MESSAGE = 0x34; // "4"
const SIO_CONNECT = 0x30; // "40"
const SIO_EVENT = 0x32; // "42"
const SIO_CONNECT_ERROR = 0x34; // "44"
const eventPrefix = (name: string) => Buffer.from(`42["${name}"`);
const BATCH = eventPrefix(FeedMessages.batch);
const DROPPED = eventPrefix(FeedMessages.dropped);
const FEED_ERROR = eventPrefix(FeedMessages.error);
const startsWith = (data: Buffer, prefix: Buffer) =>
  data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);

const wsUrl = `${endpoint.protocol === "https:" ? "wss" : "ws"}://${endpoint.host}${FEED_PATH}/?EIO=4&transport=websocket`;
for (let i = 0; i < count; i++) {
  const ws = new WebSocket(wsUrl);
  let received = 0;
  ws.on("message", (data: Buffer) => {
    const type = data[0];
    if (type === PING) ws.send("3");
    else if (type === OPEN) ws.send("40");
    else if (type !== MESSAGE) return;
    else if (data[1] === SIO_CONNECT) ws.send(`42${JSON.stringify([FeedMessages.subscribe, subscription])}`);
    else if (data[1] === SIO_CONNECT_ERROR) totals.errors++;
    else if (data[1] !== SIO_EVENT) return;
    else if (startsWith(data, BATCH)) {
      received++;
      totals.batches++;
      if (i === 0) {
        const [, batch] = JSON.parse(data.toString("utf8", 2)) as [string, { events: unknown[] }];
        totals.events += batch.events.length;
      }
      if (received % ackEvery === 0) ws.send(`42${JSON.stringify([FeedMessages.ack, received])}`);
      if (received === 1 && ++initial === count) console.log(`ready ${count}`);
    } else if (startsWith(data, DROPPED)) totals.dropped++;
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
