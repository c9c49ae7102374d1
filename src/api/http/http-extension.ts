import type { Server as HttpServer, IncomingMessage, ServerResponse } from "node:http";

/** More served on the client port's HTTP side (the event feed, the dashboard), routed before the built-in paths. */
export interface HttpExtension {
  /** Serves the request and returns true when it is the extension's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Receives the port's HTTP/1.1 server once (WebSocket upgrades arrive there). */
  attach?(server: HttpServer): void;
}
