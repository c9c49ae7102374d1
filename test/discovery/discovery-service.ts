// Debian's etcd 3.4.23 with the v2 API as a discovery service (tokens with their size key), and a
// forwarding front before it that can refuse or garble answers, or act as an HTTP proxy.
import { randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Member } from "../e2e/harness.js";

export class DiscoveryService {
  private constructor(readonly member: Member) {}

  static async start(): Promise<DiscoveryService> {
    const member = await Member.start({ binary: "etcd", name: "discovery", extraArgs: ["--enable-v2"] });
    return new DiscoveryService(member);
  }

  get url(): string {
    return this.member.clientUrl;
  }

  /** A new token's discovery URL; its size key is set unless size is undefined. */
  async token(size: string | undefined, base = this.url): Promise<string> {
    const url = `${base}/v2/keys/_etcd/registry/${randomBytes(8).toString("hex")}`;
    if (size !== undefined) await this.put(`${url}/_config/size`, size);
    return url;
  }

  /** PUT value at a v2 key URL of the service. */
  async put(keyUrl: string, value: string): Promise<void> {
    const res = await fetch(keyUrl, {
      method: "PUT",
      body: new URLSearchParams({ value }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    if (res.status >= 300) throw new Error(`PUT ${keyUrl}: ${res.status} ${await res.text()}`);
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
  ) {}

  static async start(
    target: string,
    intercept: (n: number, url: string) => Intercepted | undefined = () => undefined,
  ): Promise<Front> {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const answer = intercept(seen.length, req.url ?? "");
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
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return new Front(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
