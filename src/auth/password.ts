// Password hashing with bcrypt at --bcrypt-cost. Hashing and checking run off the apply loop
// (bcrypt costs tens of milliseconds); a check for a user that does not exist, or has no password,
// still runs a full bcrypt comparison so a failed login takes the same time either way. Passwords are
// the bytes the client sent (not necessarily UTF-8), hashed as Go's bcrypt hashes them.
import { randomBytes } from "node:crypto";
import { bcryptHash, bcryptHashSync, bcryptVerify } from "./bcrypt-bytes.js";

/** Go's bcrypt MinCost / MaxCost / DefaultCost. */
export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;

/** etcd falls back to the default cost for one outside 4..31. */
export function effectiveCost(cost: number): number {
  return Number.isInteger(cost) && cost >= BCRYPT_MIN_COST && cost <= BCRYPT_MAX_COST
    ? cost
    : BCRYPT_DEFAULT_COST;
}

export class PasswordHasher {
  readonly cost: number;
  private decoy: Promise<string> | undefined;

  constructor(cost: number) {
    this.cost = effectiveCost(cost);
  }

  /** Prepares the decoy hash ahead of the first failed login, so that one takes no longer either. */
  warmUp(): void {
    this.decoy ??= bcryptHash(randomBytes(16), this.cost);
  }

  /** The bcrypt hash of a password, as the bytes etcd stores in authpb.User.password. */
  async hash(password: Uint8Array): Promise<Buffer> {
    return Buffer.from(await bcryptHash(password, this.cost), "latin1");
  }

  /** The same, blocking: only for entries that still carry a clear password (written by etcd 3.4). */
  hashSync(password: Uint8Array): Buffer {
    return Buffer.from(bcryptHashSync(password, this.cost), "latin1");
  }

  /**
   * Whether `password` matches `hash`. With no hash (no such user, or a user without password) it
   * compares against a decoy hash of the same cost and answers false.
   */
  async verify(password: Uint8Array, hash: Buffer | undefined): Promise<boolean> {
    if (hash === undefined || hash.length === 0) {
      this.warmUp();
      await bcryptVerify(password, await (this.decoy as Promise<string>));
      return false;
    }
    // not a bcrypt hash: nothing matches it
    return bcryptVerify(password, hash.toString("latin1"));
  }
}
