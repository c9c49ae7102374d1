import type { Subscription } from "rxjs";
import type { WatchResponse } from "../../gen/etcdserverpb/rpc.js";
import { WatchStream } from "../../mvcc/watch-stream.js";
import type { ClientWatchStream } from "../client-api.js";
import type { ServerCore } from "../server-core.js";

/** Watch: one client stream multiplexes watchers on the watchable store; headers carry each event's revision. */
export class WatchApi {
  constructor(private readonly core: ServerCore) {}

  watchStream(): ClientWatchStream {
    const ws = new WatchStream(this.core.watchable);
    let sub: Subscription | undefined;
    return {
      request: (req) => ws.request(req),
      onResponse: (listener) => {
        sub?.unsubscribe();
        sub = ws.responses$.subscribe((r) => {
          const { revision, progress: _progress, ...rest } = r;
          const resp: WatchResponse = { ...rest, header: this.core.header(revision) };
          listener(resp);
        });
      },
      close: () => {
        sub?.unsubscribe();
        ws.close();
      },
    };
  }
}
