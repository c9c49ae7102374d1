// etcd's JWT tokens: signed claims {exp, revision, username}. Any member holding the key checks a
// token without state, so tokens survive restarts; a token speaks for the auth revision it was
// issued at, and a newer revision makes it stale ("revision of auth store is old").
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import type * as Jwt from "jsonwebtoken";
import { goJsonBytes, goJsonText } from "../rpctypes/raw-string.js";
import type { AuthInfo } from "./context.js";
import { AuthErrors } from "./errors.js";
import type { TokenProvider } from "./token-provider.js";

// jsonwebtoken (with its dependencies) is loaded when the first token is signed or checked: most
// members use simple tokens or no auth at all.
const requireHere = createRequire(import.meta.url);
const jwtLibrary = () => requireHere("jsonwebtoken") as typeof Jwt;

export const JWT_SIGN_METHODS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
] as const;
export type JwtSignMethod = (typeof JWT_SIGN_METHODS)[number];

export function isJwtSignMethod(s: string): s is JwtSignMethod {
  return (JWT_SIGN_METHODS as readonly string[]).includes(s);
}

/** --auth-token jwt,... with the key files already read. */
export interface JwtOptions {
  signMethod: JwtSignMethod;
  privateKey?: Buffer;
  publicKey?: Buffer;
  /** Token lifetime (ttl=, default 5 minutes). */
  ttlMs: number;
  now?: () => number;
}

/** etcd's key errors, raised at start-up. */
export const JwtKeyErrors = {
  missing: "auth: missing key data",
  mismatch: "auth: public and private keys don't match",
} as const;

type SigningKey = KeyObject | Buffer;

function keysOf(o: JwtOptions): { sign?: SigningKey; verify: SigningKey } {
  if (o.signMethod.startsWith("HS")) {
    if (!o.privateKey || o.privateKey.length === 0) throw new Error(JwtKeyErrors.missing);
    return { sign: o.privateKey, verify: o.privateKey };
  }
  const priv = o.privateKey?.length ? createPrivateKey(o.privateKey) : undefined;
  const pub = o.publicKey?.length ? createPublicKey(o.publicKey) : undefined;
  if (!priv) {
    if (!pub) throw new Error(JwtKeyErrors.missing);
    return { verify: pub };
  }
  const derived = createPublicKey(priv);
  if (pub && !pub.equals(derived)) throw new Error(JwtKeyErrors.mismatch);
  return { sign: priv, verify: derived };
}

export class JwtTokenProvider implements TokenProvider {
  readonly kind = "jwt";
  private readonly sign?: SigningKey;
  private readonly verify: SigningKey;
  private readonly now: () => number;

  /** Throws etcd's key errors when the keys are missing, unreadable or do not match. */
  constructor(private readonly opts: JwtOptions) {
    const keys = keysOf(opts);
    this.sign = keys.sign;
    this.verify = keys.verify;
    this.now = opts.now ?? Date.now;
  }

  /** Only a public key was given: tokens are checked, never issued. */
  get verifyOnly(): boolean {
    return this.sign === undefined;
  }

  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}
  genTokenPrefix(): string {
    return "";
  }

  assign(username: string, revision: number): string {
    if (!this.sign) throw AuthErrors.VerifyOnly;
    const exp = Math.floor((this.now() + this.opts.ttlMs) / 1000);
    // the claims as Go's encoding/json writes them: a name's bytes that are not UTF-8 become U+FFFD
    // (the token then speaks for the user of that name, as etcd's does)
    const claims = goJsonBytes(JSON.stringify({ exp, revision, username }));
    // (a payload given as text gets no "iat" claim added, as etcd's has none, and no "typ" unless told)
    return jwtLibrary().sign(claims, this.sign, {
      algorithm: this.opts.signMethod,
      header: { alg: this.opts.signMethod, typ: "JWT" },
    });
  }

  info(token: string): AuthInfo | undefined {
    let claims: string | Jwt.JwtPayload;
    try {
      claims = jwtLibrary().verify(token, this.verify, {
        algorithms: [this.opts.signMethod],
        clockTimestamp: Math.floor(this.now() / 1000),
      });
    } catch {
      return undefined;
    }
    if (typeof claims !== "object") return undefined;
    const { username, revision } = claims as { username?: unknown; revision?: unknown };
    if (typeof username !== "string" || typeof revision !== "number" || !Number.isSafeInteger(revision))
      return undefined;
    if (revision < 0) return undefined;
    return { username: goJsonText(username), revision };
  }
}
