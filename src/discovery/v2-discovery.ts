// etcd 3.4's v2 discovery (--discovery): a new member learns its initial cluster from a token directory of
// a v2 keys service. It reads the cluster size from <token>/_config/size, registers itself at
// <token>/<member id hex> = "name=peerURL,...", then waits until `size` members registered; the initial
// cluster is the first `size` of them in creation order. A proxy only reads (and waits for) the cluster.
import type { Logger } from "pino";
import { parseUrlsMap, UrlListError } from "../config/urls.js";
import {
  ClusterUnavailableError,
  InvalidJsonError,
  V2_NODE_EXIST,
  V2KeysClient,
  V2KeysError,
  type V2Node,
} from "./v2-keys.js";

/** A failure of discovery itself, with etcd's texts. */
export class DiscoveryFailure extends Error {}

export const ErrInvalidURL = new DiscoveryFailure("discovery: invalid URL");
export const ErrBadSizeKey = new DiscoveryFailure("discovery: size key is bad");
export const ErrDuplicateID = new DiscoveryFailure("discovery: found duplicate id");
export const ErrDuplicateName = new DiscoveryFailure("discovery: found duplicate name");
export const ErrFullCluster = new DiscoveryFailure("discovery: cluster is full");
export const ErrTooManyRetries = new DiscoveryFailure("discovery: too many retries");
export const ErrBadDiscoveryEndpoint = new DiscoveryFailure("discovery: bad discovery endpoint");

/** etcdserver.DiscoveryError: what the bootstrap fails with when discovery does. */
export class DiscoveryError extends Error {
  constructor(
    readonly op: string,
    readonly err: Error,
  ) {
    super(`failed to ${op} discovery cluster (${err.message})`);
    this.name = "DiscoveryError";
  }
}

export interface DiscoveryOptions {
  /** --discovery: the token's URL, e.g. http://host:2379/v2/keys/_etcd/registry/<token>. */
  url: string;
  /** --discovery-proxy: an HTTP proxy for the requests to the discovery service. */
  proxy?: string;
  logger?: Pick<Logger, "info" | "warn" | "error">;
  /** The backoff unit (etcd: one second, doubled at each retry up to 2^8 units). */
  retryUnitMs?: number;
  /** Retries before ErrTooManyRetries (etcd: 2^32 - 1). */
  maxRetries?: number;
  /** Limit of each get and create (etcd: 5 s). */
  requestTimeoutMs?: number;
  /** CA certificates trusted besides the system's for an https service (etcd: the system's only). */
  ca?: Buffer;
}

/** etcd's maxExpoentialRetries: the backoff stops doubling after 2^8 units. */
const MAX_EXPONENTIAL_RETRIES = 8;

/** Go's url.Parse of the discovery URL, split as etcd does: the endpoint, and the path as the token. */
function splitDiscoveryUrl(url: string): { endpoint: URL; token: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`parse ${JSON.stringify(url)}: invalid URL`);
  }
  const token = decodeURIComponent(u.pathname);
  const endpoint = new URL(`${u.protocol}//${u.host}`);
  return { endpoint, token };
}

/** newProxyFunc: a proxy given without a scheme is taken as http://. */
function proxyUrl(proxy: string): URL {
  try {
    const u = new URL(proxy);
    if (u.protocol.startsWith("http")) return u;
  } catch {
    // tried again with http:// below
  }
  try {
    return new URL(`http://${proxy}`);
  } catch {
    throw new Error(
      `invalid proxy address ${JSON.stringify(proxy)}: parse ${JSON.stringify(proxy)}: invalid URL`,
    );
  }
}

/** path.Join for the keys: slashes collapsed, no trailing slash, rooted. */
function joinPath(...parts: string[]): string {
  const joined = parts.join("/").replace(/\/+/g, "/");
  const trimmed = joined.length > 1 ? joined.replace(/\/$/, "") : joined;
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

const base = (key: string) => key.slice(key.lastIndexOf("/") + 1);

/** strconv.ParseUint(s, 10, 64). */
function parseSize(text: string): bigint | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n <= 0xffff_ffff_ffff_ffffn ? n : undefined;
}

interface ClusterState {
  nodes: V2Node[];
  size: bigint;
  index: number;
}

class FullCluster extends DiscoveryFailure {
  constructor(readonly state: ClusterState) {
    super(ErrFullCluster.message);
  }
}

class Discovery {
  private readonly client: V2KeysClient;
  private readonly token: string;
  private readonly endpoint: URL;
  private readonly log: DiscoveryOptions["logger"];
  private retries = 0;

  constructor(
    private readonly opts: DiscoveryOptions,
    private readonly id: bigint,
  ) {
    const { endpoint, token } = splitDiscoveryUrl(opts.url);
    this.endpoint = endpoint;
    this.token = token;
    this.log = opts.logger;
    let proxy: URL | undefined;
    if (opts.proxy) {
      proxy = proxyUrl(opts.proxy);
      this.log?.info({ "proxy-url": proxy.href.replace(/\/$/, "") }, "running proxy with discovery");
    }
    this.client = new V2KeysClient({
      endpoint,
      ...(proxy ? { proxy } : {}),
      ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
  }

  private get urlText(): string {
    return this.endpoint.href.replace(/\/$/, "");
  }

  private get selfKey(): string {
    return joinPath("/", this.token, this.id.toString(16));
  }

  async joinCluster(config: string): Promise<string> {
    try {
      // fast path: a full cluster is refused before registering
      await this.checkCluster();
      await this.createSelf(config);
      const state = await this.checkCluster();
      const all = await this.waitNodes(state);
      return nodesToCluster(all, state.size);
    } finally {
      this.client.close();
    }
  }

  async getCluster(): Promise<string> {
    try {
      let state: ClusterState;
      try {
        state = await this.checkCluster();
      } catch (err) {
        if (err instanceof FullCluster) return nodesToCluster(err.state.nodes, err.state.size);
        throw err;
      }
      return nodesToCluster(await this.waitNodes(state), state.size);
    } finally {
      this.client.close();
    }
  }

  private async createSelf(contents: string): Promise<void> {
    let created: Awaited<ReturnType<V2KeysClient["create"]>>;
    try {
      created = await this.client.create(this.selfKey, contents);
    } catch (err) {
      if (err instanceof V2KeysError && err.errorCode === V2_NODE_EXIST) throw ErrDuplicateID;
      throw err;
    }
    // the registration is seen by the server that is asked next
    await this.client.watch(this.selfKey, created.node.createdIndex, false);
  }

  private async checkCluster(): Promise<ClusterState> {
    const configKey = joinPath("/", this.token, "_config");
    const sizeKey = joinPath(configKey, "size");
    let sizeText: string;
    try {
      sizeText = (await this.client.get(sizeKey)).node.value ?? "";
    } catch (err) {
      // etcd 3.4.23 compares the v2 client's error as a pointer, which it never is: a missing size key
      // fails with the service's own "100: Key not found" error, never with "discovery: size key not found"
      if (err instanceof InvalidJsonError) throw ErrBadDiscoveryEndpoint;
      if (err instanceof ClusterUnavailableError) {
        this.log?.warn(
          {
            "discovery-url": this.urlText,
            path: sizeKey,
            error: err.message,
            "err-detail": err.detail(),
          },
          "failed to get from discovery server",
        );
        return this.checkClusterRetry();
      }
      throw err;
    }
    const size = parseSize(sizeText);
    if (size === undefined) throw ErrBadSizeKey;

    let listing: Awaited<ReturnType<V2KeysClient["get"]>>;
    try {
      listing = await this.client.get(this.token);
    } catch (err) {
      if (err instanceof ClusterUnavailableError) {
        this.log?.warn(
          { "discovery-url": this.urlText, path: this.token, error: err.message, "err-detail": err.detail() },
          "failed to get from discovery server",
        );
        return this.checkClusterRetry();
      }
      throw err;
    }
    const nodes = (listing.node.nodes ?? [])
      .filter((n) => base(n.key) !== base(configKey))
      .sort((a, b) => a.createdIndex - b.createdIndex);
    const self = base(this.selfKey);
    for (let i = 0; i < nodes.length; i++) {
      if (base(nodes[i].key) === self) break;
      // size 0 is never full (etcd's size-1 wraps around)
      if (size > 0n && BigInt(i) >= size - 1n)
        throw new FullCluster({ nodes: nodes.slice(0, Number(size)), size, index: listing.index });
    }
    return { nodes, size, index: listing.index };
  }

  private async backoffForRetry(step: string): Promise<void> {
    this.retries++;
    const exponent = Math.min(this.retries, MAX_EXPONENTIAL_RETRIES);
    const unitMs = this.opts.retryUnitMs ?? 1000;
    const waitMs = 2 ** exponent * unitMs;
    this.log?.info(
      { url: this.urlText, reason: step, backoff: goDuration(waitMs) },
      "retry connecting to discovery service",
    );
    await new Promise<void>((resolve) => setTimeout(resolve, waitMs));
  }

  private async checkClusterRetry(): Promise<ClusterState> {
    if (this.retries < (this.opts.maxRetries ?? 2 ** 32 - 1)) {
      await this.backoffForRetry("cluster status check");
      return this.checkCluster();
    }
    throw ErrTooManyRetries;
  }

  private async waitNodesRetry(): Promise<V2Node[]> {
    if (this.retries < (this.opts.maxRetries ?? 2 ** 32 - 1)) {
      await this.backoffForRetry("waiting for other nodes");
      return this.waitNodes(await this.checkCluster());
    }
    throw ErrTooManyRetries;
  }

  private async waitNodes(state: ClusterState): Promise<V2Node[]> {
    const size = state.size;
    const all = BigInt(state.nodes.length) > size ? state.nodes.slice(0, Number(size)) : [...state.nodes];
    const self = base(this.selfKey);
    for (const n of all) {
      if (base(n.key) === self)
        this.log?.info({ "discovery-url": this.urlText, self }, "found self from discovery server");
      else
        this.log?.info(
          { "discovery-url": this.urlText, peer: base(n.key) },
          "found peer from discovery server",
        );
    }
    let waitIndex = state.index + 1;
    while (BigInt(all.length) < size) {
      this.log?.info(
        {
          "discovery-url": this.urlText,
          "found-peers": all.length,
          "needed-peers": Number(size - BigInt(all.length)),
        },
        "found peers from discovery server; waiting for more",
      );
      let event: Awaited<ReturnType<V2KeysClient["watch"]>>;
      try {
        event = await this.client.watch(this.token, waitIndex, true);
      } catch (err) {
        if (err instanceof ClusterUnavailableError) {
          this.log?.error({ "err-detail": err.detail() }, err.detail().trimEnd());
          return this.waitNodesRetry();
        }
        throw err;
      }
      waitIndex = event.node.modifiedIndex + 1;
      this.log?.info(
        { "discovery-url": this.urlText, peer: base(event.node.key) },
        "found peer from discovery server",
      );
      all.push(event.node);
    }
    this.log?.info(
      { "discovery-url": this.urlText, "found-peers": all.length },
      "found all needed peers from discovery server",
    );
    return all;
  }
}

/** The registrations as one "name=url,..." text; refused when unreadable or when two share a name. */
function nodesToCluster(nodes: readonly V2Node[], size: bigint): string {
  const text = nodes.map((n) => n.value ?? "").join(",");
  let members: Map<string, unknown>;
  try {
    members = parseUrlsMap(text);
  } catch (err) {
    if (err instanceof UrlListError) throw ErrInvalidURL;
    throw err;
  }
  if (BigInt(members.size) !== size) throw ErrDuplicateName;
  return text;
}

/** Go's time.Duration text for whole seconds and milliseconds ("2s", "1m4s", "250ms"). */
function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const totalSeconds = ms / 1000;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds - minutes * 60;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/**
 * Registers this member (id) with `config` ("name=peerURL,...") and answers the discovered initial cluster
 * ("name=peerURL,..." of the first `size` registrations).
 */
export function joinCluster(opts: DiscoveryOptions, id: bigint, config: string): Promise<string> {
  return new Discovery(opts, id).joinCluster(config);
}

/** The discovered cluster without registering (a proxy's start): a full cluster is an answer. */
export function getCluster(opts: DiscoveryOptions): Promise<string> {
  return new Discovery(opts, 0n).getCluster();
}
