// A wait the client's deadline ends: etcd's handlers wait under the call's context, and where one
// gives up when that context is done, it answers with an error of its own.
import type { ClientDeadline } from "../../auth/context.js";

/** `work`, or `error` once the client's deadline passes first (the work itself runs on, unwatched). */
export function untilDeadline<T>(
  work: Promise<T>,
  deadline: ClientDeadline | undefined,
  error: unknown,
): Promise<T> {
  if (deadline === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    deadline.onExpiry(() => reject(error));
    work.then(resolve, reject);
  });
}
