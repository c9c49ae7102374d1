// Auth errors etcd 3.4 returns outside its gRPC error table (they reach clients as code Unknown
// with the auth package's text), the one rxetcd adds where etcd 3.4 panics, and the ones rxetcd adds
// for names longer than a bbolt key holds (etcd 3.4 dies applying those).
import { EtcdError, GrpcCode } from "../rpctypes/errors.js";

/**
 * The longest user or role name in bytes: bbolt's longest key (MaxKeySize). etcd 3.4 keys a user or
 * role record by its name and exits when it applies a longer one (bbolt refuses the key, "cannot put
 * key into bucket (key too large)"), again at every restart; rxetcd refuses such a name instead.
 */
export const MAX_NAME_BYTES = 32768;

export const AuthErrors = {
  /** A password given for a user created with --no-password. */
  NoPasswordUser: new EtcdError(
    GrpcCode.Unknown,
    "auth: authentication failed, password was given for no password user",
  ),
  /** A JWT provider holding only a public key cannot sign tokens. */
  VerifyOnly: new EtcdError(GrpcCode.Unknown, "auth: token signing attempted with verify-only key"),
  /** RoleGrantPermission without a permission (etcd 3.4 panics; 3.5 answers this). */
  PermissionNotGiven: new EtcdError(GrpcCode.InvalidArgument, "etcdserver: permission not given"),
  /** A user name is its record's key, and bbolt keys hold at most MAX_NAME_BYTES. */
  UserNameTooLong: new EtcdError(
    GrpcCode.InvalidArgument,
    `etcdserver: user name is longer than ${MAX_NAME_BYTES} bytes`,
  ),
  /** A role name is its record's key, as a user name is. */
  RoleNameTooLong: new EtcdError(
    GrpcCode.InvalidArgument,
    `etcdserver: role name is longer than ${MAX_NAME_BYTES} bytes`,
  ),
} as const;

/**
 * etcd 3.4's maintenance service (hashes, defragment, snapshot) returns the auth package's own
 * errors unmapped: the client sees code Unknown and the "auth: ..." text.
 */
export function unmappedAuthError(err: unknown): unknown {
  if (!(err instanceof EtcdError)) return err;
  const text = UNMAPPED.get(err.message);
  return text === undefined ? err : new EtcdError(GrpcCode.Unknown, text);
}

const UNMAPPED = new Map([
  ["etcdserver: user name is empty", "auth: user name is empty"],
  ["etcdserver: user name not found", "auth: user not found"],
  ["etcdserver: permission denied", "auth: permission denied"],
  ["etcdserver: invalid auth token", "auth: invalid auth token"],
]);
