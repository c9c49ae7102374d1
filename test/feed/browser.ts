// Debian's chromium driven by playwright-core, for the dashboard tests; screenshots go to the artifacts dir.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

/** Where the tests write their screenshots (TEST_ARTIFACTS, else a directory under the temp dir). */
export const artifacts = process.env.TEST_ARTIFACTS ?? join(tmpdir(), "rxetcd-test-artifacts");

export function artifactPath(name: string): string {
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with a throw-away profile; fails saying why when chromium is not installed. */
export async function launchChromium(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} not found: the browser tests need Debian's chromium (bash .ci/ensure-chromium, as root)`,
    );
  const profile = mkdtempSync(join(tmpdir(), "rxetcd-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
