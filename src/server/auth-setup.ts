import type { Logger } from "pino";
import { AuthStore, PasswordHasher, SimpleTokenProvider, type TokenProvider } from "../auth/index.js";
import type { SimpleTokenOptions } from "../auth/simple-token.js";
import type { ServerRecords } from "./records.js";

/** What the member needs to build its token provider: the applied-index hooks simple tokens wait on. */
export type TokenHooks = Pick<SimpleTokenOptions, "appliedIndex" | "waitApplied" | "applyWaitMs">;

/** The auth part of the server configuration (--auth-token, --auth-token-ttl, --bcrypt-cost, --client-cert-auth). */
export interface ServerAuthConfig {
  /** Builds the token provider --auth-token names (throws etcd's error for bad options). */
  tokens: (hooks: TokenHooks) => TokenProvider;
  bcryptCost: number;
  clientCertAuth: boolean;
}

/** etcd's defaults: simple tokens living 300 s, bcrypt cost 10. */
export const defaultAuthConfig: ServerAuthConfig = {
  tokens: (hooks) => new SimpleTokenProvider({ ...hooks, ttlMs: 300_000 }),
  bcryptCost: 10,
  clientCertAuth: false,
};

/** The member's auth store, loaded from its records. */
export function createAuthStore(
  cfg: ServerAuthConfig | undefined,
  hooks: TokenHooks,
  records: ServerRecords,
  log: Logger,
): AuthStore {
  const c = cfg ?? defaultAuthConfig;
  const hasher = new PasswordHasher(c.bcryptCost);
  if (hasher.cost !== c.bcryptCost) {
    log.warn(
      { "min-cost": 4, "max-cost": 31, "default-cost": hasher.cost, "given-cost": c.bcryptCost },
      "use default bcrypt cost instead of the invalid given cost",
    );
  }
  const tokens = c.tokens(hooks);
  if (tokens.kind === "simple") log.warn({}, "simple token is not cryptographically signed");
  const store = new AuthStore({
    tokens,
    hasher,
    clientCertAuth: c.clientCertAuth,
    log: log.child({ component: "auth" }),
  });
  store.recover(records);
  return store;
}
