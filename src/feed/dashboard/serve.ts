// Serves the dashboard page and its assets under /dashboard (on the client port and on feed-only listeners).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { HttpExtension } from "../../api/http/http-extension.js";

/** Where the page's API is, as index.html ships it: its own origin. */
const API_META_SAME_ORIGIN = '<meta name="rxetcd-api" content="">';

const ASSETS: Record<string, { file: string; type: string }> = {
  "/dashboard": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
  "/dashboard/uplot.css": { file: "uplot.css", type: "text/css; charset=utf-8" },
};

/**
 * The dashboard's files, read once on first use and kept (they ship in the package). Served on a
 * feed-only listener, `apiOrigin` names the member's client URL: the page sends its key, lease, auth and
 * leadership requests there (the API's CORS lets it).
 */
export function dashboardHttp(options: { apiOrigin?: string } = {}): HttpExtension {
  const meta =
    options.apiOrigin === undefined
      ? undefined
      : `<meta name="rxetcd-api" content="${new URL(options.apiOrigin).origin.replace(/[&<>"]/g, "")}">`;
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer => {
    const body = readFileSync(fileURLToPath(new URL(`./assets/${file}`, import.meta.url)));
    if (file !== "index.html" || meta === undefined) return body;
    return Buffer.from(body.toString("utf8").replace(API_META_SAME_ORIGIN, meta));
  };
  return {
    handle(req, res) {
      const path = (req.url ?? "").split("?")[0];
      const asset = ASSETS[path];
      if (!asset) return false;
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET" });
        res.end();
        return true;
      }
      let body = cache.get(asset.file);
      if (!body) {
        body = read(asset.file);
        cache.set(asset.file, body);
      }
      res.writeHead(200, {
        "Content-Type": asset.type,
        "Content-Length": body.length,
        "Cache-Control": "no-cache",
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return true;
    },
  };
}
