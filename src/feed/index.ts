// The socket.io event feed and the dashboard page, served on the client port. The feed's client is
// not exported here (import it from ./client.js): a member would load socket.io's client at every start.
import type { HttpExtension } from "../api/http/http-extension.js";
import type { EtcdServer } from "../server/etcd-server.js";
import { dashboardHttp } from "./dashboard/serve.js";
import { EventFeed, type EventFeedOptions } from "./event-feed.js";

export { EventFeed, type EventFeedOptions, type FeedAuthenticator } from "./event-feed.js";
export type { FeedUser } from "./group.js";
export { defaultFeedLimits, type FeedLimits } from "./limits.js";
export * from "./protocol.js";

/** A running feed: what the client port must serve for it, and how to stop it. */
export interface Feed {
  readonly events: EventFeed;
  readonly http: readonly HttpExtension[];
  /** What a feed-only listener (--listen-feed-urls) serves: the feed, and the dashboard using the API at `apiOrigin`. */
  feedOnlyHttp(apiOrigin: string): readonly HttpExtension[];
  close(): Promise<void>;
}

/** Starts the event feed of a member; serve `http` on its client listeners. */
export async function startFeed(server: EtcdServer, options: EventFeedOptions = {}): Promise<Feed> {
  const events = new EventFeed(server, options);
  await events.start();
  const feedHttp: HttpExtension = {
    handle: (req, res) => events.handle(req, res),
    attach: (http) => events.attach(http),
  };
  return {
    events,
    http: [feedHttp, dashboardHttp()],
    feedOnlyHttp: (apiOrigin) => [feedHttp, dashboardHttp({ apiOrigin })],
    close: () => events.close(),
  };
}
