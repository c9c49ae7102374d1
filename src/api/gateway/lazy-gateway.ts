// The gateway is loaded on its first request: its protobuf descriptor registry and JSON codec take a
// noticeable share of a member's start-up time and memory, and a member spoken to only over gRPC never
// needs them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayHandler } from "./gateway.js";
import { plainError } from "./http-replies.js";

/** A gateway handler that builds the real one with `load` when the first request arrives. */
export function lazyGateway(load: () => Promise<GatewayHandler>): GatewayHandler {
  let gateway: GatewayHandler | undefined;
  let loading: Promise<GatewayHandler> | undefined;
  return (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (gateway) return gateway(req, res, path);
    // requests arriving meanwhile wait in arrival order; their bodies stay buffered in the socket
    loading ??= load().then((g) => {
      gateway = g;
      return g;
    });
    loading.then(
      (g) => g(req, res, path),
      (err: unknown) => {
        // a load that failed is tried again by the next request
        loading = undefined;
        if (!res.headersSent) plainError(res, 500, err instanceof Error ? err.message : String(err));
        else res.destroy();
      },
    );
  };
}
