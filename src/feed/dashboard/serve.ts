// Serves the dashboard page and its assets under /dashboard on the client port.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { HttpExtension } from "../../api/http/http-extension.js";

const ASSETS: Record<string, { file: string; type: string }> = {
  "/dashboard": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard/dashboard.js": { file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  "/dashboard/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
  "/dashboard/uplot.css": { file: "uplot.css", type: "text/css; charset=utf-8" },
};

/** The dashboard's files, read once on first use and kept (they ship in the package). */
export function dashboardHttp(): HttpExtension {
  const cache = new Map<string, Buffer>();
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
        body = readFileSync(fileURLToPath(new URL(`./assets/${asset.file}`, import.meta.url)));
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
