import type { RequestContext } from "../../auth/context.js";
import type {
  ResponseHeader,
  WatchCreateRequest,
  WatchRequest,
  WatchResponse,
} from "../../gen/etcdserverpb/rpc.js";
import { WatchStream } from "../../mvcc/watch-stream.js";
import { Errors, isClientVisibleError } from "../../rpctypes/errors.js";
import type { ClientWatchStream, WatchStreamOptions } from "../client-api.js";
import type { ServerCore } from "../server-core.js";
import { withAuthInfo } from "./authorize.js";

/** clientv3.InvalidWatchID: the id of a watch refused at creation. */
const INVALID_WATCH_ID = -1;

/** The cancel reason etcd gives a watch refused by auth: its gRPC error as grpc-go prints it. */
function cancelReason(err: unknown): string {
  if (isClientVisibleError(err)) {
    for (const known of [Errors.InvalidAuthToken, Errors.AuthOldRevision, Errors.UserEmpty]) {
      if (err.grpcMessage === known.message) return known.goStatusText;
    }
  }
  return Errors.PermissionDenied.goStatusText;
}

/**
 * Watch: one client stream multiplexes watchers on the watchable store; headers carry each event's
 * revision. With auth on (or credentials given), each create request needs read access to its
 * range; a refused one is answered created and canceled at once, as etcd does.
 */
export class WatchApi {
  /** The header of event responses: one function for every stream, so a flush asks once per revision. */
  private readonly header: (revision: number) => ResponseHeader;

  constructor(private readonly core: ServerCore) {
    this.header = (revision) => core.header(revision);
  }

  watchStream(ctx?: RequestContext, options: WatchStreamOptions = {}): ClientWatchStream {
    const { core } = this;
    const ws = new WatchStream(core.watchable, { admission: options.admission });
    let listener: ((resp: WatchResponse) => void) | undefined;
    // requests wait behind a create whose permission is being checked, so answers keep their order
    let pending: Promise<void> | undefined;
    let queued = 0;
    let closed = false;

    const credentials = ctx !== undefined && (ctx.token !== undefined || ctx.commonName !== undefined);
    const needsCheck = (req: WatchRequest) =>
      req.createRequest !== undefined && (core.auth.enabled || credentials);

    const check = (create: WatchCreateRequest): Promise<void> =>
      withAuthInfo(core, ctx, async (ai) => {
        // as etcd's watch server: an empty key is "\0", the smallest key
        const key = create.key.length === 0 ? Buffer.from([0]) : create.key;
        core.auth.checkAccess(ai, key, create.rangeEnd, "read");
      });

    const handle = async (req: WatchRequest): Promise<void> => {
      if (closed) return;
      if (req.createRequest && needsCheck(req)) {
        try {
          await check(req.createRequest);
        } catch (err) {
          if (closed) return;
          listener?.({
            header: core.header(),
            watchId: INVALID_WATCH_ID,
            created: true,
            canceled: true,
            compactRevision: 0,
            cancelReason: cancelReason(err),
            fragment: false,
            events: [],
          });
          return;
        }
      }
      if (closed) return;
      try {
        ws.request(req);
      } catch (err) {
        core.log.warn({ err }, "watch request failed");
      }
    };

    return {
      request: (req) => {
        if (pending === undefined && !needsCheck(req)) {
          ws.request(req);
          return;
        }
        queued++;
        const run = (pending ?? Promise.resolve()).then(() => handle(req));
        pending = run.finally(() => {
          if (--queued === 0) pending = undefined;
        });
      },
      onResponse: (l) => {
        listener = l;
        // built field by field: this runs once per watcher for every event (no rest spread)
        ws.listen((r) =>
          l({
            header: core.header(r.revision),
            watchId: r.watchId,
            created: r.created,
            canceled: r.canceled,
            compactRevision: r.compactRevision,
            cancelReason: r.cancelReason,
            fragment: r.fragment,
            events: r.events,
          }),
        );
      },
      events: {
        listen: (l) => ws.listenEvents(l),
        header: this.header,
      },
      close: () => {
        closed = true;
        ws.listen(undefined);
        ws.listenEvents(undefined);
        ws.close();
      },
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    };
  }
}
