// etcd's simple tokens: 16 random letters, a dot and the raft index of the Authenticate entry that
// issued them. They live in this member's memory only (a restart forgets them, as in etcd), expire
// after --auth-token-ttl without use, and every use restarts that time.
import { randomInt } from "node:crypto";
import type { AuthInfo } from "./context.js";
import type { AssignContext, TokenProvider } from "./token-provider.js";

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PREFIX_LENGTH = 16;
/** How often expired tokens are dropped (etcd's simpleTokenTTLResolution). */
const SWEEP_MS = 1000;
/**
 * Live tokens kept at most; past it the oldest go first. Each one costs a password check, so only
 * a client with a valid password can fill this, and it cannot take the member's memory.
 */
export const MAX_SIMPLE_TOKENS = 100_000;

export interface SimpleTokenOptions {
  /** --auth-token-ttl in milliseconds. */
  ttlMs: number;
  /** The applied index now, and a wait for a later one: a token is valid once its entry is applied here. */
  appliedIndex(): number;
  waitApplied(index: number): Promise<void>;
  /** How long a token from an entry not applied here yet may wait for it. */
  applyWaitMs: number;
  now?: () => number;
}

export class SimpleTokenProvider implements TokenProvider {
  readonly kind = "simple";
  private readonly tokens = new Map<string, { username: string; expiresAt: number }>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  private readonly ttlMs: number;

  constructor(private readonly opts: SimpleTokenOptions) {
    this.now = opts.now ?? Date.now;
    // etcd falls back to 300 s for a TTL of 0
    this.ttlMs = opts.ttlMs > 0 ? opts.ttlMs : 300_000;
  }

  get size(): number {
    return this.tokens.size;
  }

  enable(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  disable(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.tokens.clear();
  }

  close(): void {
    this.disable();
  }

  invalidateUser(username: string): void {
    for (const [token, t] of this.tokens) if (t.username === username) this.tokens.delete(token);
  }

  genTokenPrefix(): string {
    let s = "";
    for (let i = 0; i < PREFIX_LENGTH; i++) s += LETTERS[randomInt(LETTERS.length)];
    return s;
  }

  assign(username: string, _revision: number, at: AssignContext): string {
    const token = `${at.prefix}.${at.index}`;
    // tokens are handed out only while enabled (etcd's keeper exists only then)
    if (!this.sweeper) return token;
    this.tokens.delete(token);
    this.tokens.set(token, { username, expiresAt: this.now() + this.ttlMs });
    while (this.tokens.size > MAX_SIMPLE_TOKENS) {
      const oldest = this.tokens.keys().next().value as string;
      this.tokens.delete(oldest);
    }
    return token;
  }

  info(token: string, currentRevision: number): AuthInfo | undefined | Promise<AuthInfo | undefined> {
    const parts = token.split(".");
    if (parts.length !== 2 || !/^-?\d+$/.test(parts[1])) return undefined;
    const index = Number(parts[1]);
    if (index <= this.opts.appliedIndex()) return this.lookup(token, currentRevision);
    // issued by an entry this member has not applied yet: wait for it, within bounds
    return new Promise<AuthInfo | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), this.opts.applyWaitMs);
      void this.opts.waitApplied(index).then(() => {
        clearTimeout(timer);
        resolve(this.lookup(token, currentRevision));
      });
    });
  }

  private lookup(token: string, revision: number): AuthInfo | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    if (t.expiresAt <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expiresAt = this.now() + this.ttlMs;
    return { username: t.username, revision };
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(token);
  }
}
