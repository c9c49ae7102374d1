// Debian's etcd 3.4.23 with the v2 API as a discovery service (tokens with their size key), and a
// forwarding front before it that can refuse or garble answers, or act as an HTTP proxy.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { type AddressInfo, connect, type Socket } from "node:net";
import { join } from "node:path";
import { Member } from "../e2e/harness.js";

export class DiscoveryService {
  private constructor(
    readonly member: Member,
    private readonly ca: string | undefined,
  ) {}

  /** The service; over https with a self-signed certificate (--auto-tls) when asked. */
  static async start(opts: { https?: boolean } = {}): Promise<DiscoveryService> {
    const member = await Member.start({
      binary: "etcd",
      name: "discovery",
      extraArgs: ["--enable-v2"],
      clientAutoTls: opts.https ?? false,
    });
    const ca = opts.https
      ? readFileSync(join(member.dataDir, "fixtures", "client", "cert.pem"), "utf8")
      : undefined;
    return new DiscoveryService(member, ca);
  }

  /** The self-signed certificate of an https service (to trust it). */
  get certificate(): Buffer | undefined {
    return this.ca === undefined ? undefined : Buffer.from(this.ca);
  }

  get url(): string {
    return this.member.clientUrl;
  }

  /** A new token's discovery URL; its size key is set unless size is undefined. */
  async token(size: string | undefined): Promise<string> {
    const url = `${this.url}/v2/keys/_etcd/registry/${randomBytes(8).toString("hex")}`;
    if (size !== undefined) await this.put(`${url}/_config/size`, size);
    return url;
  }

  /** PUT value at a v2 key URL of the service. */
  async put(keyUrl: string, value: string): Promise<void> {
    const body = new URLSearchParams({ value }).toString();
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const options = {
        method: "PUT",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        ...(this.ca ? { ca: this.ca } : {}),
      };
      const req = (keyUrl.startsWith("https:") ? httpsRequest : request)(keyUrl, options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
    if (status >= 300) throw new Error(`PUT ${keyUrl}: ${status} ${text}`);
  }

  /** The registrations under a token (name=url values), in creation order. */
  async registrations(tokenUrl: string): Promise<string[]> {
    const res = await fetch(tokenUrl);
    const doc = (await res.json()) as {
      node: { nodes?: Array<{ key: string; value?: string; createdIndex: number }> };
    };
    return (doc.node.nodes ?? [])
      .filter((n) => !n.key.endsWith("/_config"))
      .sort((a, b) => a.createdIndex - b.createdIndex)
      .map((n) => n.value ?? "");
  }
}

export interface Intercepted {
  /** 0: the request is never answered. */
  status: number;
  body: string;
}

/**
 * An HTTP server that forwards each request to `target` (origin-form requests, or absolute-form ones as a
 * proxy gets them), unless `intercept` answers it. `seen` lists every request's method and URL.
 */
export class Front {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly seen: string[],
    private readonly tunnels: Set<Socket>,
  ) {}

  static async start(
    target: string,
    intercept: (n: number, url: string) => Intercepted | undefined = () => undefined,
  ): Promise<Front> {
    const seen: string[] = [];
    const tunnels = new Set<Socket>();
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const answer = intercept(seen.length, req.url ?? "");
      if (answer?.status === 0) return; // never answered
      if (answer) {
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(answer.body);
        return;
      }
      const to = new URL(req.url?.startsWith("http") ? req.url : `${target}${req.url}`);
      const out = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on("error", () => res.destroy());
      req.pipe(out);
      res.on("close", () => out.destroy());
    });
    // CONNECT: a tunnel, as an HTTP proxy opens one for https
    server.on("connect", (req, client, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url ?? "").split(":");
      const up = connect(Number(port), host, () => {
        tunnels.add(up);
        tunnels.add(client as Socket);
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      up.on("error", () => client.destroy());
      client.on("error", () => up.destroy());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return new Front(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, tunnels);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    for (const s of this.tunnels) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
