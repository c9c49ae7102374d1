// Which client URLs the proxy sends requests to (etcd's httpproxy director). The list is fetched
// again every refresh interval, and every second while none is available when the interval is 30 s
// or more. An endpoint that failed is skipped for the failure wait, then tried again.
import type { Logger } from "pino";

/** etcd's defaultRefreshInterval: from this interval up, an empty list is refreshed every second. */
const DEFAULT_REFRESH_INTERVAL_MS = 30_000;
const EMPTY_REFRESH_INTERVAL_MS = 1_000;

export type DirectorLog = Pick<Logger, "info">;

export class Endpoint {
  private isAvailable = true;

  constructor(
    readonly url: URL,
    private readonly failureWaitMs: number,
    private readonly log: DirectorLog,
    private readonly timers: Set<NodeJS.Timeout>,
  ) {}

  get available(): boolean {
    return this.isAvailable;
  }

  /** Marks the endpoint unavailable for the failure wait (once, however many requests failed on it). */
  failed(): void {
    if (!this.isAvailable) return;
    this.isAvailable = false;
    this.log.info(`marked endpoint ${endpointText(this.url)} unavailable`);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.isAvailable = true;
      this.log.info(`marked endpoint ${endpointText(this.url)} available, to retest connectivity`);
    }, this.failureWaitMs);
    timer.unref();
    this.timers.add(timer);
  }
}

/** Go's url.URL.String() of a client URL: the origin, as the proxy only takes scheme and host. */
export function endpointText(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

export interface DirectorOptions {
  /** The client URLs of the cluster now (an empty list when they cannot be had). */
  clientUrls: () => Promise<string[]>;
  failureWaitMs: number;
  refreshIntervalMs: number;
  log: DirectorLog;
  /** [0, 1), for the shuffle (Math.random by default). */
  random?: () => number;
}

export class Director {
  private list: Endpoint[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private loop: NodeJS.Timeout | undefined;
  private stopped = false;
  private announced = false;

  constructor(private readonly opts: DirectorOptions) {}

  /** The first refresh, then the refresh loop; resolves once the first list is in. */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  /** The endpoints available now, in the (shuffled) order requests try them. */
  endpoints(): Endpoint[] {
    return this.list.filter((e) => e.available);
  }

  async refresh(): Promise<void> {
    const urls = await this.opts.clientUrls();
    const fresh: Endpoint[] = [];
    for (const u of urls) {
      let url: URL;
      try {
        url = new URL(u);
      } catch (err) {
        this.opts.log.info(`upstream URL invalid: ${(err as Error).message}`);
        continue;
      }
      fresh.push(new Endpoint(url, this.opts.failureWaitMs, this.opts.log, this.timers));
    }
    // shuffled so that connections do not all stick to one endpoint
    const random = this.opts.random ?? Math.random;
    for (let i = 0; i < fresh.length; i++) {
      const j = Math.floor(random() * (i + 1));
      [fresh[i], fresh[j]] = [fresh[j], fresh[i]];
    }
    this.list = fresh;
  }

  stop(): void {
    this.stopped = true;
    if (this.loop) clearTimeout(this.loop);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(): void {
    if (this.stopped) return;
    const available = this.endpoints();
    let wait = this.opts.refreshIntervalMs;
    if (wait >= DEFAULT_REFRESH_INTERVAL_MS && available.length === 0) wait = EMPTY_REFRESH_INTERVAL_MS;
    if (available.length > 0 && !this.announced) {
      this.announced = true;
      // Go's %q of a string list: quoted, space-separated
      const quoted = available.map((e) => JSON.stringify(endpointText(e.url))).join(" ");
      this.opts.log.info(`endpoints found [${quoted}]`);
    }
    this.loop = setTimeout(() => {
      this.loop = undefined;
      void this.refresh().then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, wait);
    this.loop.unref();
  }
}
