import { readFileSync } from "node:fs";
import { createTokenProvider } from "../auth/index.js";
import type { Config } from "../config/codec.js";
import { nsToMs, parseGoDuration } from "../config/go-values.js";
import { parseAuthToken } from "../config/index.js";
import type { ServerAuthConfig } from "../server/auth-setup.js";

/** --auth-token, --auth-token-ttl, --bcrypt-cost and --client-cert-auth as the server takes them. */
export function serverAuthConfig(config: Config, warn?: (message: string) => void): ServerAuthConfig {
  const spec = parseAuthToken(config.authToken);
  if ("error" in spec) throw new Error(spec.error);
  return {
    bcryptCost: config.bcryptCost,
    clientCertAuth: config.clientTls.clientCertAuth,
    tokens: (hooks) =>
      createTokenProvider(spec, {
        simple: { ...hooks, ttlMs: config.authTokenTtlSeconds * 1000 },
        readFile: (path) => readFileSync(path),
        ...(warn ? { warn } : {}),
        parseDurationMs: (text) => {
          const d = parseGoDuration(text);
          return d.ok ? nsToMs(d.ns) : undefined;
        },
      }),
  };
}
