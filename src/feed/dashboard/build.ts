// Bundles the dashboard page's script with its libraries into assets/ (run: npm run build:dashboard).
// The bundle is committed, so a member serves the page without building anything.
import { copyFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The bundle's text, built in memory (the freshness test compares it with the committed one). */
export async function bundleDashboard(): Promise<string> {
  const out = await build({
    entryPoints: [here("./app.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    legalComments: "eof",
    logLevel: "silent",
  });
  return out.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(here("./assets/dashboard.js"), await bundleDashboard());
  copyFileSync(fileURLToPath(import.meta.resolve("uplot/dist/uPlot.min.css")), here("./assets/uplot.css"));
  console.log("dashboard bundled into src/feed/dashboard/assets/");
}
