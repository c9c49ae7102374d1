// Which raft entries carry a password in clear. etcd 3.4 proposes UserAdd and UserChangePassword with
// the password itself and every member hashes it with bcrypt when applying; entries written by earlier
// rxetcd releases carry the hash already (etcd 3.5's hashedPassword field) and need no hashing.
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";

/** The clear password the apply of `r` must hash, or undefined when it needs no hash. */
export function passwordToHash(r: InternalRaftRequest): Buffer | undefined {
  if (r.authUserAdd) {
    const u = r.authUserAdd;
    // an empty name is refused before hashing; a no-password user has nothing to hash
    if (u.name === "" || u.options?.noPassword || u.hashedPassword !== "") return undefined;
    return u.password;
  }
  if (r.authUserChangePassword) {
    const c = r.authUserChangePassword;
    return c.hashedPassword !== "" ? undefined : c.password;
  }
  return undefined;
}
