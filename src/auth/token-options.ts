// --auth-token: "simple", "jwt,pub-key=...,priv-key=...,sign-method=...,ttl=..." or "" (no tokens).
import { isJwtSignMethod, JwtTokenProvider } from "./jwt-token.js";
import { type SimpleTokenOptions, SimpleTokenProvider } from "./simple-token.js";
import { NoTokenProvider, type TokenProvider } from "./token-provider.js";

/** --auth-token split into its type and key=value options. */
export interface TokenSpec {
  readonly type: string;
  readonly options: ReadonlyMap<string, string>;
}

export interface TokenProviderDeps {
  /** For simple tokens: --auth-token-ttl and the applied-index hooks. */
  simple: SimpleTokenOptions;
  /** Reads a key file named in the options. */
  readFile(path: string): Buffer;
  /** Go's time.ParseDuration, in milliseconds (undefined when the text is not a duration). */
  parseDurationMs(text: string): number | undefined;
  now?: () => number;
  warn?: (message: string) => void;
}

/** etcd's DefaultTTL for JWTs. */
const DEFAULT_JWT_TTL_MS = 5 * 60 * 1000;
const KNOWN_JWT_OPTIONS = new Set(["sign-method", "pub-key", "priv-key", "ttl"]);

/** The provider an --auth-token value asks for; throws with etcd's text when it cannot be built. */
export function createTokenProvider(spec: TokenSpec, deps: TokenProviderDeps): TokenProvider {
  const invalid = (why: string) => new Error(`auth: invalid auth options (${why})`);
  switch (spec.type) {
    case "simple":
      return new SimpleTokenProvider(deps.simple);
    case "": {
      return new NoTokenProvider();
    }
    case "jwt": {
      const o = spec.options;
      // etcd warns about options it does not know and goes on
      const unknown = [...o.keys()].filter((k) => !KNOWN_JWT_OPTIONS.has(k));
      if (unknown.length > 0) deps.warn?.(`unknown JWT options: ${unknown.join(", ")}`);
      const method = o.get("sign-method") ?? "";
      if (!isJwtSignMethod(method))
        throw invalid(`auth: invalid auth signature method ${JSON.stringify(method)}`);
      let ttlMs = DEFAULT_JWT_TTL_MS;
      const ttl = o.get("ttl");
      if (ttl) {
        const ms = deps.parseDurationMs(ttl);
        if (ms === undefined || ms <= 0) throw invalid(`bad ttl ${JSON.stringify(ttl)}`);
        ttlMs = ms;
      }
      const read = (name: string) => {
        const path = o.get(name);
        if (!path) return undefined;
        try {
          return deps.readFile(path);
        } catch (err) {
          throw invalid(`cannot read ${name} ${path}: ${(err as Error).message}`);
        }
      };
      const privateKey = read("priv-key");
      const publicKey = read("pub-key");
      return new JwtTokenProvider({
        signMethod: method,
        ttlMs,
        ...(privateKey ? { privateKey } : {}),
        ...(publicKey ? { publicKey } : {}),
        ...(deps.now ? { now: deps.now } : {}),
      });
    }
    default:
      throw invalid(`unknown token type ${JSON.stringify(spec.type)}`);
  }
}
