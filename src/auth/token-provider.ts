import type { AuthInfo } from "./context.js";

/** What applying an Authenticate entry knows: its raft index and the proposer's random token prefix. */
export interface AssignContext {
  readonly index: number;
  readonly prefix: string;
}

/** Issues and reads auth tokens (etcd's simple tokens or JWTs). */
export interface TokenProvider {
  readonly kind: "simple" | "jwt" | "none";
  /** Auth was enabled (at start-up or by AuthEnable). */
  enable(): void;
  /** Auth was disabled: simple tokens are forgotten. */
  disable(): void;
  /** The user was deleted or changed its password: its simple tokens stop working. */
  invalidateUser(username: string): void;
  /** The random part of a simple token, chosen by the member proposing Authenticate; "" for other kinds. */
  genTokenPrefix(): string;
  /** The token for a user, made while applying its Authenticate entry (the same on every member). */
  assign(username: string, revision: number, at: AssignContext): string;
  /**
   * The user a token stands for and the auth revision it speaks for, or undefined when the token is
   * unknown, expired or forged. `currentRevision` is the store's revision (simple tokens carry none).
   */
  info(token: string, currentRevision: number): AuthInfo | undefined | Promise<AuthInfo | undefined>;
  /** Stops timers. */
  close(): void;
}

/** `--auth-token ""`: no tokens at all; Authenticate fails as etcd's nop provider does. */
export class NoTokenProvider implements TokenProvider {
  readonly kind = "none";
  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  genTokenPrefix(): string {
    return "";
  }
  assign(): string {
    return "";
  }
  info(): undefined {
    return undefined;
  }
  close(): void {}
}
