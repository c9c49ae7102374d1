// Run by client-load.test.ts in its own process: reports, as JSON on stdout, which of socket.io's client packages
// were resolved after importing the package's entry and after creating a FeedClient.

import { register } from "node:module";
import { MessageChannel } from "node:worker_threads";

const hook = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  if (specifier === "socket.io-client" || specifier === "engine.io-client") port.postMessage(specifier);
  return next(specifier, context);
}`;
const { port1, port2 } = new MessageChannel();
const seen: string[] = [];
port1.on("message", (m: string) => seen.push(m));
register(`data:text/javascript,${encodeURIComponent(hook)}`, {
  parentURL: import.meta.url,
  data: { port: port2 },
  transferList: [port2],
});
// messages from the hooks' thread arrive asynchronously
const settle = () => new Promise((r) => setTimeout(r, 300));

const { FeedClient } = await import("../../src/index.js");
await settle();
const afterImport = [...seen];
const client = new FeedClient("http://127.0.0.1:9", {
  subscription: { topics: ["raft"] },
  reconnection: false,
});
await client.opened;
await settle();
client.close();
port1.close();
console.log(JSON.stringify({ afterImport, afterClient: [...seen] }));
