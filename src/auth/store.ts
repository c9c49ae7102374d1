// The auth store: users, roles, their permissions, the enabled flag and the auth revision, kept
// in memory and written through the member's records in etcd's bbolt layout (buckets `auth`,
// `authUsers`, `authRoles`; authpb.User and authpb.Role values; `authEnabled` and `authRevision`
// keys), so that snapshots carry it. Every change arrives through raft: the apply methods are
// deterministic and return the record changes to commit with their entry. Checks follow etcd 3.4's
// auth package: root may do anything, other users what the union of their roles' permissions allows.
// Names are the bytes clients sent, as strings that keep bytes that are not UTF-8 (raw-string.ts).
import { type Permission, Permission_Type, Role, User } from "../gen/authpb/auth.js";
import type {
  AuthRoleAddRequest,
  AuthRoleDeleteRequest,
  AuthRoleGetRequest,
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserAddRequest,
  AuthUserChangePasswordRequest,
  AuthUserDeleteRequest,
  AuthUserGetRequest,
  AuthUserGrantRoleRequest,
  AuthUserRevokeRoleRequest,
} from "../gen/etcdserverpb/rpc.js";
import { Errors } from "../rpctypes/errors.js";
import {
  compareRawStrings,
  decodeRawString,
  encodeRawString,
  rawStringByteLength,
} from "../rpctypes/raw-string.js";
import { type AuthInfo, internalRootContext, type RequestContext } from "./context.js";
import { AuthErrors, MAX_NAME_BYTES } from "./errors.js";
import { intervalOf, KeyRangeSet } from "./key-ranges.js";
import type { PasswordHasher } from "./password.js";
import type { TokenProvider } from "./token-provider.js";

export const AUTH_BUCKET = "auth";
export const AUTH_USERS_BUCKET = "authUsers";
export const AUTH_ROLES_BUCKET = "authRoles";
const ENABLED_KEY = Buffer.from("authEnabled");
const REVISION_KEY = Buffer.from("authRevision");
const ENABLED = Buffer.from([1]);
const DISABLED = Buffer.from([0]);

export const ROOT_USER = "root";
export const ROOT_ROLE = "root";

/** A record to put (value given) or delete, in one of the auth buckets. */
export type AuthRecordChange = readonly [bucket: string, key: Buffer, value: Buffer | undefined];

/** Reads the records of a bucket (the member's ServerRecords). */
export interface AuthRecordSource {
  list(bucket: string): Array<[Buffer, Buffer]>;
}

/** An applied auth request: the answer (its header is filled by the server) and what to persist. */
export interface AuthApplied<R> {
  resp: R;
  changes: AuthRecordChange[];
}

export interface AuthLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AuthStoreOptions {
  tokens: TokenProvider;
  hasher: PasswordHasher;
  /** --client-cert-auth: the Common Name of a verified client certificate names the user. */
  clientCertAuth?: boolean;
  log?: AuthLogger;
}

/** The kind of access a request needs on a key range. */
export type Access = "read" | "write";

interface MergedPermissions {
  read: KeyRangeSet;
  write: KeyRangeSet;
}

const revisionBytes = (rev: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(rev));
  return b;
};

const hasRootRole = (u: User) => u.roles.includes(ROOT_ROLE);

export class AuthStore {
  private users = new Map<string, User>();
  private roles = new Map<string, Role>();
  /** Merged permissions per user, built on first use after a change. */
  private readonly permCache = new Map<string, MergedPermissions>();
  private enabledFlag = false;
  /** etcd starts a fresh store at auth revision 1. */
  private rev = 1;

  constructor(private readonly opts: AuthStoreOptions) {}

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  get tokens(): TokenProvider {
    return this.opts.tokens;
  }

  get hasher(): PasswordHasher {
    return this.opts.hasher;
  }

  /** Loads the state the records hold (start-up, or a backend replaced by a snapshot). */
  recover(source: AuthRecordSource): void {
    this.users = new Map();
    for (const [, v] of source.list(AUTH_USERS_BUCKET)) {
      const u = User.decode(v);
      this.users.set(decodeRawString(u.name), u);
    }
    this.roles = new Map();
    for (const [, v] of source.list(AUTH_ROLES_BUCKET)) {
      const r = Role.decode(v);
      this.roles.set(decodeRawString(r.name), r);
    }
    let enabled = false;
    let rev = 0;
    for (const [k, v] of source.list(AUTH_BUCKET)) {
      if (k.equals(ENABLED_KEY)) enabled = v.equals(ENABLED);
      else if (k.equals(REVISION_KEY) && v.length === 8) rev = Number(v.readBigUInt64BE());
    }
    this.rev = rev === 0 ? 1 : rev;
    this.permCache.clear();
    if (enabled !== this.enabledFlag) {
      this.enabledFlag = enabled;
      if (enabled) {
        this.opts.tokens.enable();
        this.opts.hasher.warmUp();
      } else this.opts.tokens.disable();
    }
  }

  close(): void {
    this.opts.tokens.close();
  }

  // ---- reads ----------------------------------------------------------------------------------

  user(name: string): User | undefined {
    return this.users.get(name);
  }

  hasRole(username: string, role: string): boolean {
    return this.users.get(username)?.roles.includes(role) ?? false;
  }

  /**
   * Who a request speaks for: its token's user, else the client certificate's Common Name (with
   * --client-cert-auth), else nobody. A token that is unknown, expired or forged fails with
   * "invalid auth token", whether auth is enabled or not (as etcd). Synchronous unless a simple
   * token waits for its entry to be applied here.
   */
  authInfo(ctx: RequestContext | undefined): AuthInfo | undefined | Promise<AuthInfo | undefined> {
    if (ctx === undefined) return undefined;
    if (ctx === internalRootContext) return { username: ROOT_USER, revision: this.rev };
    if (ctx.token !== undefined) {
      const info = this.opts.tokens.info(ctx.token, this.rev);
      if (info instanceof Promise) {
        return info.then((i) => {
          if (!i) throw Errors.InvalidAuthToken;
          return i;
        });
      }
      if (!info) throw Errors.InvalidAuthToken;
      return info;
    }
    if (ctx.commonName !== undefined && this.opts.clientCertAuth)
      return { username: ctx.commonName, revision: this.rev };
    return undefined;
  }

  /** etcd's isOpPermitted: throws the error a request without that access gets. */
  checkAccess(ai: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer, access: Access): void {
    if (!this.enabledFlag) return;
    if (!ai || ai.revision === 0) throw Errors.UserEmpty;
    if (ai.revision < this.rev) throw Errors.AuthOldRevision;
    const user = this.users.get(ai.username);
    if (!user) throw Errors.PermissionDenied;
    if (hasRootRole(user)) return;
    const perms = this.permissionsOf(user);
    if (!perms[access].covers(key, rangeEnd)) throw Errors.PermissionDenied;
  }

  /** etcd's IsAdminPermitted: only a user holding the root role (no revision check, as etcd). */
  checkAdmin(ai: AuthInfo | undefined): void {
    if (!this.enabledFlag) return;
    if (!ai || ai.username === "") throw Errors.UserEmpty;
    const user = this.users.get(ai.username);
    if (!user) throw Errors.UserNotFound;
    if (!hasRootRole(user)) throw Errors.PermissionDenied;
  }

  /** The stored password hash of a user with a password; undefined for no user or a no-password user. */
  passwordOf(name: string): { hash: Buffer | undefined; noPassword: boolean; exists: boolean } {
    const u = this.users.get(name);
    if (!u) return { hash: undefined, noPassword: false, exists: false };
    const noPassword = u.options?.noPassword ?? false;
    return { hash: noPassword ? undefined : u.password, noPassword, exists: true };
  }

  private permissionsOf(user: User): MergedPermissions {
    const name = decodeRawString(user.name);
    let p = this.permCache.get(name);
    if (!p) {
      const read = [];
      const write = [];
      for (const roleName of user.roles) {
        const role = this.roles.get(roleName);
        if (!role) continue;
        for (const perm of role.keyPermission) {
          const ivl = intervalOf(perm.key, perm.rangeEnd);
          if (perm.permType === Permission_Type.READ || perm.permType === Permission_Type.READWRITE)
            read.push(ivl);
          if (perm.permType === Permission_Type.WRITE || perm.permType === Permission_Type.READWRITE)
            write.push(ivl);
        }
      }
      p = { read: new KeyRangeSet(read), write: new KeyRangeSet(write) };
      this.permCache.set(name, p);
    }
    return p;
  }

  // ---- applied changes ------------------------------------------------------------------------

  private bump(changes: AuthRecordChange[]): void {
    this.rev++;
    changes.push([AUTH_BUCKET, REVISION_KEY, revisionBytes(this.rev)]);
    this.permCache.clear();
  }

  private putUser(u: User, changes: AuthRecordChange[]): void {
    this.users.set(decodeRawString(u.name), u);
    changes.push([AUTH_USERS_BUCKET, u.name, Buffer.from(User.encode(u).finish())]);
  }

  private putRole(r: Role, changes: AuthRecordChange[]): void {
    this.roles.set(decodeRawString(r.name), r);
    changes.push([AUTH_ROLES_BUCKET, r.name, Buffer.from(Role.encode(r).finish())]);
  }

  applyAuthEnable(): AuthApplied<object> {
    if (this.enabledFlag) {
      this.opts.log?.info({}, "authentication is already enabled; ignored auth enable request");
      return { resp: {}, changes: [] };
    }
    const root = this.users.get(ROOT_USER);
    if (!root) throw Errors.RootUserNotExist;
    if (!hasRootRole(root)) throw Errors.RootRoleNotExist;
    this.enabledFlag = true;
    this.opts.tokens.enable();
    this.opts.hasher.warmUp();
    this.permCache.clear();
    this.opts.log?.info({}, "enabled authentication");
    return { resp: {}, changes: [[AUTH_BUCKET, ENABLED_KEY, ENABLED]] };
  }

  applyAuthDisable(): AuthApplied<object> {
    if (!this.enabledFlag) return { resp: {}, changes: [] };
    const changes: AuthRecordChange[] = [[AUTH_BUCKET, ENABLED_KEY, DISABLED]];
    this.bump(changes);
    this.enabledFlag = false;
    this.opts.tokens.disable();
    this.opts.log?.info({}, "disabled authentication");
    return { resp: {}, changes };
  }

  /** Issues the token of an Authenticate entry (the password was checked before proposing). */
  applyAuthenticate(name: string, at: { index: number; prefix: string }): AuthApplied<{ token: string }> {
    if (!this.enabledFlag) throw Errors.AuthNotEnabled;
    const user = this.users.get(name);
    if (!user || user.options?.noPassword) throw Errors.AuthFailed;
    const token = this.opts.tokens.assign(name, this.rev, at);
    return { resp: { token }, changes: [] };
  }

  /**
   * `hashed` is the bcrypt hash of the entry's clear password, computed off the apply loop ahead of
   * the apply (see passwordToHash); an entry carrying its hash already uses that one.
   */
  applyUserAdd(r: AuthUserAddRequest, hashed?: Buffer): AuthApplied<object> {
    if (r.name.length === 0) throw Errors.UserEmpty;
    if (rawStringByteLength(r.name) > MAX_NAME_BYTES) throw AuthErrors.UserNameTooLong;
    const noPassword = r.options?.noPassword ?? false;
    const password = noPassword ? Buffer.alloc(0) : this.passwordHash(r, hashed);
    if (this.users.has(r.name)) throw Errors.UserAlreadyExist;
    const changes: AuthRecordChange[] = [];
    this.putUser(
      { name: encodeRawString(r.name), password, roles: [], options: r.options ?? { noPassword: false } },
      changes,
    );
    this.bump(changes);
    this.opts.log?.info({ "user-name": r.name }, "added a user");
    return { resp: {}, changes };
  }

  /** The hash to store: the entry's own, the one computed ahead, or (when none was) one computed now. */
  private passwordHash(
    r: { password: Uint8Array; hashedPassword: string },
    hashed: Buffer | undefined,
  ): Buffer {
    if (r.hashedPassword !== "") return Buffer.from(r.hashedPassword, "base64");
    return hashed ?? this.opts.hasher.hashSync(r.password);
  }

  applyUserDelete(r: AuthUserDeleteRequest): AuthApplied<object> {
    if (this.enabledFlag && r.name === ROOT_USER) throw Errors.InvalidAuthMgmt;
    const user = this.users.get(r.name);
    if (!user) throw Errors.UserNotFound;
    this.users.delete(r.name);
    const changes: AuthRecordChange[] = [[AUTH_USERS_BUCKET, user.name, undefined]];
    this.bump(changes);
    this.opts.tokens.invalidateUser(r.name);
    this.opts.log?.info({ "user-name": r.name, "user-roles": user.roles }, "deleted a user");
    return { resp: {}, changes };
  }

  applyUserChangePassword(r: AuthUserChangePasswordRequest, hashed?: Buffer): AuthApplied<object> {
    const password = this.passwordHash(r, hashed);
    const user = this.users.get(r.name);
    if (!user) throw Errors.UserNotFound;
    const changes: AuthRecordChange[] = [];
    this.putUser({ ...user, password }, changes);
    this.bump(changes);
    this.opts.tokens.invalidateUser(r.name);
    this.opts.log?.info({ "user-name": r.name }, "changed a password of a user");
    return { resp: {}, changes };
  }

  applyUserGrantRole(r: AuthUserGrantRoleRequest): AuthApplied<object> {
    const user = this.users.get(r.user);
    if (!user) throw Errors.UserNotFound;
    if (r.role !== ROOT_ROLE && !this.roles.has(r.role)) throw Errors.RoleNotFound;
    if (user.roles.includes(r.role)) {
      this.opts.log?.warn(
        { "user-name": r.user, "role-name": r.role },
        "ignored grant role request to a user",
      );
      return { resp: {}, changes: [] };
    }
    const changes: AuthRecordChange[] = [];
    this.putUser({ ...user, roles: [...user.roles, r.role].sort(compareRawStrings) }, changes);
    this.bump(changes);
    this.opts.log?.info({ "user-name": r.user, "added-role-name": r.role }, "granted a role to a user");
    return { resp: {}, changes };
  }

  applyUserGet(r: AuthUserGetRequest): AuthApplied<{ roles: string[] }> {
    const user = this.users.get(r.name);
    if (!user) throw Errors.UserNotFound;
    return { resp: { roles: [...user.roles] }, changes: [] };
  }

  applyUserList(): AuthApplied<{ users: string[] }> {
    return { resp: { users: [...this.users.keys()].sort(compareRawStrings) }, changes: [] };
  }

  applyUserRevokeRole(r: AuthUserRevokeRoleRequest): AuthApplied<object> {
    if (this.enabledFlag && r.name === ROOT_USER && r.role === ROOT_ROLE) throw Errors.InvalidAuthMgmt;
    const user = this.users.get(r.name);
    if (!user) throw Errors.UserNotFound;
    const roles = user.roles.filter((x) => x !== r.role);
    if (roles.length === user.roles.length) throw Errors.RoleNotGranted;
    const changes: AuthRecordChange[] = [];
    this.putUser({ ...user, roles }, changes);
    this.bump(changes);
    this.opts.log?.info({ "user-name": r.name, "revoked-role-name": r.role }, "revoked a role from a user");
    return { resp: {}, changes };
  }

  applyRoleAdd(r: AuthRoleAddRequest): AuthApplied<object> {
    if (r.name.length === 0) throw Errors.RoleEmpty;
    if (rawStringByteLength(r.name) > MAX_NAME_BYTES) throw AuthErrors.RoleNameTooLong;
    if (this.roles.has(r.name)) throw Errors.RoleAlreadyExist;
    const changes: AuthRecordChange[] = [];
    this.putRole({ name: encodeRawString(r.name), keyPermission: [] }, changes);
    this.bump(changes);
    this.opts.log?.info({ "role-name": r.name }, "created a role");
    return { resp: {}, changes };
  }

  applyRoleGet(r: AuthRoleGetRequest): AuthApplied<{ perm: Permission[] }> {
    const role = this.roles.get(r.role);
    if (!role) throw Errors.RoleNotFound;
    return { resp: { perm: role.keyPermission.map((p) => ({ ...p })) }, changes: [] };
  }

  applyRoleList(): AuthApplied<{ roles: string[] }> {
    return { resp: { roles: [...this.roles.keys()].sort(compareRawStrings) }, changes: [] };
  }

  applyRoleDelete(r: AuthRoleDeleteRequest): AuthApplied<object> {
    if (this.enabledFlag && r.role === ROOT_ROLE) throw Errors.InvalidAuthMgmt;
    const role = this.roles.get(r.role);
    if (!role) throw Errors.RoleNotFound;
    this.roles.delete(r.role);
    const changes: AuthRecordChange[] = [[AUTH_ROLES_BUCKET, role.name, undefined]];
    for (const user of [...this.users.values()]) {
      if (!user.roles.includes(r.role)) continue;
      this.putUser({ ...user, roles: user.roles.filter((x) => x !== r.role) }, changes);
    }
    this.bump(changes);
    this.opts.log?.info({ "role-name": r.role }, "deleted a role");
    return { resp: {}, changes };
  }

  applyRoleGrantPermission(r: AuthRoleGrantPermissionRequest): AuthApplied<object> {
    const role = this.roles.get(r.name);
    if (!role) throw Errors.RoleNotFound;
    const perm = r.perm;
    if (!perm) throw AuthErrors.PermissionNotGiven;
    const perms = role.keyPermission.map((p) => ({ ...p }));
    // as etcd: the first permission whose key is not below the new one is updated when it is the
    // same range, else the permission is added
    const at = perms.findIndex((p) => Buffer.compare(p.key, perm.key) >= 0);
    if (at >= 0 && perms[at].key.equals(perm.key) && perms[at].rangeEnd.equals(perm.rangeEnd)) {
      perms[at].permType = perm.permType;
    } else {
      perms.push({ permType: perm.permType, key: perm.key, rangeEnd: perm.rangeEnd });
      perms.sort((a, b) => Buffer.compare(a.key, b.key));
    }
    const changes: AuthRecordChange[] = [];
    this.putRole({ name: role.name, keyPermission: perms }, changes);
    this.bump(changes);
    this.opts.log?.info(
      { "role-name": r.name, "permission-name": Permission_Type[perm.permType] ?? String(perm.permType) },
      "granted/updated a permission to a role",
    );
    return { resp: {}, changes };
  }

  applyRoleRevokePermission(r: AuthRoleRevokePermissionRequest): AuthApplied<object> {
    const role = this.roles.get(r.role);
    if (!role) throw Errors.RoleNotFound;
    const kept = role.keyPermission.filter((p) => !p.key.equals(r.key) || !p.rangeEnd.equals(r.rangeEnd));
    if (kept.length === role.keyPermission.length) throw Errors.PermissionNotGranted;
    const changes: AuthRecordChange[] = [];
    this.putRole({ name: role.name, keyPermission: kept }, changes);
    this.bump(changes);
    this.opts.log?.info({ "role-name": r.role }, "revoked a permission on range");
    return { resp: {}, changes };
  }
}
