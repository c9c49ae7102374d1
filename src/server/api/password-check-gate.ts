// How many logins may check a password at once, and how many may wait. bcrypt is CPU work, so a flood
// of logins queues instead of starving the member; past the queue's bound a login is refused with
// etcd's "too many requests" (etcd 3.4 has no such bound: rxetcd's own).
import { Errors } from "../../rpctypes/errors.js";

/** Password checks running at once. */
export const CONCURRENT_PASSWORD_CHECKS = 2;
/** Logins allowed to wait for a check. */
export const MAX_WAITING_PASSWORD_CHECKS = 256;

/** A small counting semaphore with a bounded queue. */
export class PasswordCheckGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit = CONCURRENT_PASSWORD_CHECKS,
    private readonly maxWaiting = MAX_WAITING_PASSWORD_CHECKS,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) throw Errors.TooManyRequests;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
