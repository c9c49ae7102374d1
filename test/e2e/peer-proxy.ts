// A TCP proxy in front of a member's peer port that a test can cut: members advertise the proxy's URL,
// so every connection to the member passes through it. Raft traffic names its sender in the
// X-Server-From header of each connection's first request, which lets the proxy also refuse one
// sender only: cutting member C off means C's own proxy refuses everyone and every other proxy
// refuses C.
import { connect, createServer, type Server, type Socket } from "node:net";
import { freePort } from "./harness.js";

/** Header bytes kept while looking for the end of a connection's first request head. */
const MAX_HEAD_BYTES = 64 * 1024;

export class PeerProxy {
  private readonly server: Server;
  private readonly conns = new Set<{ client: Socket; upstream: Socket; from: string | undefined }>();
  /** Every accepted socket, also those still sending their first request head (closed with the proxy). */
  private readonly accepted = new Set<Socket>();
  private cutEveryone = false;
  private readonly cutSenders = new Set<string>();

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** A proxy on a free port that forwards to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<PeerProxy> {
    const p = new PeerProxy(await freePort(), targetPort);
    await new Promise<void>((res, rej) => {
      p.server.once("error", rej);
      p.server.listen(p.port, "127.0.0.1", () => res());
    });
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    this.accepted.add(client);
    client.on("close", () => this.accepted.delete(client));
    if (this.cutEveryone) {
      client.destroy();
      return;
    }
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0 && head.length < MAX_HEAD_BYTES) return;
      client.off("data", onData);
      client.pause();
      const text = head.subarray(0, end < 0 ? head.length : end).toString("latin1");
      const from = /^x-server-from:\s*([0-9a-f]+)\s*$/im.exec(text)?.[1];
      if (this.cutEveryone || (from !== undefined && this.cutSenders.has(from))) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, "127.0.0.1");
      const entry = { client, upstream, from };
      this.conns.add(entry);
      const drop = () => {
        this.conns.delete(entry);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    client.on("data", onData);
    client.on("error", () => client.destroy());
  }

  /** Refuses every connection, and drops the open ones: nothing reaches the member. */
  cutAll(): void {
    this.cutEveryone = true;
    for (const c of [...this.conns]) c.client.destroy();
  }

  /** Refuses connections from one member (hex id as in X-Server-From), dropping its open ones. */
  cutFrom(memberIdHex: string): void {
    this.cutSenders.add(memberIdHex);
    for (const c of [...this.conns]) if (c.from === memberIdHex) c.client.destroy();
  }

  heal(): void {
    this.cutEveryone = false;
    this.cutSenders.clear();
  }

  close(): Promise<void> {
    for (const c of [...this.conns]) c.client.destroy();
    // a connection still sending its head would keep server.close() waiting
    for (const socket of [...this.accepted]) socket.destroy();
    return new Promise((res) => this.server.close(() => res()));
  }
}
