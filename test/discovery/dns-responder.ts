// A tiny DNS server on a loopback UDP port for the SRV discovery tests: it answers SRV and A questions
// from a table (NXDOMAIN for a name it does not know, no answer for other types), so that a
// dns.promises.Resolver pointed at it resolves as a real DNS would.
import { createSocket, type Socket } from "node:dgram";
import { promises as dns } from "node:dns";
import type { AddressInfo } from "node:net";
import type { SrvRecord } from "../../src/discovery/index.js";

export interface Zone {
  srv?: Record<string, Array<Pick<SrvRecord, "name" | "port"> & Partial<SrvRecord>>>;
  a?: Record<string, string[]>;
}

const TYPE_A = 1;
const TYPE_SRV = 33;

function encodeName(name: string): Buffer {
  const labels = name
    .replace(/\.$/, "")
    .split(".")
    .filter((l) => l !== "");
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")])),
    Buffer.from([0]),
  ]);
}

/** The question's name, type and where the question ends. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } {
  let at = 12;
  const labels: string[] = [];
  while (msg[at] !== 0) {
    const len = msg[at];
    labels.push(msg.subarray(at + 1, at + 1 + len).toString("ascii"));
    at += 1 + len;
  }
  at += 1;
  return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(at), end: at + 4 };
}

function answer(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the question's name
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(5, 6); // TTL
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export class DnsResponder {
  readonly questions: string[] = [];
  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private zone: Zone,
  ) {
    socket.on("message", (msg, from) => this.reply(msg, from.port, from.address));
  }

  static async start(zone: Zone): Promise<DnsResponder> {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    return new DnsResponder(socket, (socket.address() as AddressInfo).port, zone);
  }

  setZone(zone: Zone): void {
    this.zone = zone;
  }

  /** A resolver that asks this server only, quickly given up on. */
  resolver(): InstanceType<typeof dns.Resolver> {
    const r = new dns.Resolver({ timeout: 1000, tries: 2 });
    r.setServers([`127.0.0.1:${this.port}`]);
    return r;
  }

  private reply(msg: Buffer, port: number, address: string): void {
    const q = readQuestion(msg);
    this.questions.push(`${q.type === TYPE_SRV ? "SRV" : q.type === TYPE_A ? "A" : q.type} ${q.name}`);
    const srv = Object.entries(this.zone.srv ?? {}).find(([n]) => n.toLowerCase() === q.name)?.[1];
    const a = Object.entries(this.zone.a ?? {}).find(([n]) => n.toLowerCase() === q.name)?.[1];
    const answers: Buffer[] = [];
    if (q.type === TYPE_SRV)
      for (const r of srv ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(r.priority ?? 0, 0);
        fixed.writeUInt16BE(r.weight ?? 0, 2);
        fixed.writeUInt16BE(r.port, 4);
        answers.push(answer(TYPE_SRV, Buffer.concat([fixed, encodeName(r.name)])));
      }
    if (q.type === TYPE_A)
      for (const ip of a ?? []) answers.push(answer(TYPE_A, Buffer.from(ip.split(".").map(Number))));
    const known = srv !== undefined || a !== undefined;
    const head = Buffer.alloc(12);
    msg.copy(head, 0, 0, 2); // id
    head.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // a response, recursion available; NXDOMAIN when unknown
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answers.length, 6);
    this.socket.send(Buffer.concat([head, msg.subarray(12, q.end), ...answers]), port, address);
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}
