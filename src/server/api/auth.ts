import type { RequestContext } from "../../auth/context.js";
import { AuthErrors, MAX_NAME_BYTES } from "../../auth/errors.js";
import type { InternalRaftRequest } from "../../gen/etcdserverpb/raft_internal.js";
import type {
  AuthDisableResponse,
  AuthEnableResponse,
  AuthenticateRequest,
  AuthenticateResponse,
  AuthRoleAddRequest,
  AuthRoleAddResponse,
  AuthRoleDeleteRequest,
  AuthRoleDeleteResponse,
  AuthRoleGetRequest,
  AuthRoleGetResponse,
  AuthRoleGrantPermissionRequest,
  AuthRoleGrantPermissionResponse,
  AuthRoleListResponse,
  AuthRoleRevokePermissionRequest,
  AuthRoleRevokePermissionResponse,
  AuthUserAddRequest,
  AuthUserAddResponse,
  AuthUserChangePasswordRequest,
  AuthUserChangePasswordResponse,
  AuthUserDeleteRequest,
  AuthUserDeleteResponse,
  AuthUserGetRequest,
  AuthUserGetResponse,
  AuthUserGrantRoleRequest,
  AuthUserGrantRoleResponse,
  AuthUserListResponse,
  AuthUserRevokeRoleRequest,
  AuthUserRevokeRoleResponse,
  ResponseHeader,
} from "../../gen/etcdserverpb/rpc.js";
import { Errors } from "../../rpctypes/errors.js";
import { rawStringByteLength } from "../../rpctypes/raw-string.js";
import type { ClientAuthApi } from "../client-api.js";
import { type ServerCore, withHeader } from "../server-core.js";
import { proposer, withAuthInfo } from "./authorize.js";
import { PasswordCheckGate } from "./password-check-gate.js";

/** An Authenticate entry carries no password (etcd 3.4 leaves it out too). */
const NO_PASSWORD: Buffer = Buffer.alloc(0);

/**
 * The Auth service. Every request goes through raft, carrying its user (admin rights are checked
 * when applied). Passwords are checked here, before proposing; new passwords travel in the entry, as
 * etcd 3.4 proposes them, and are hashed by every member when applied.
 */
export class AuthApi implements ClientAuthApi {
  private readonly gate = new PasswordCheckGate();

  constructor(private readonly core: ServerCore) {}

  get enabled(): boolean {
    return this.core.auth.enabled;
  }

  private propose<R extends { header: ResponseHeader | undefined }>(
    ctx: RequestContext | undefined,
    req: Partial<InternalRaftRequest>,
  ): Promise<R> {
    return withAuthInfo(this.core, ctx, async (ai) => {
      const r = await this.core.propose({ ...req, ...proposer(ai) }, ctx?.deadline);
      return withHeader(this.core, r.resp as R);
    });
  }

  authEnable(ctx?: RequestContext): Promise<AuthEnableResponse> {
    return this.propose(ctx, { authEnable: {} });
  }

  authDisable(ctx?: RequestContext): Promise<AuthDisableResponse> {
    return this.propose(ctx, { authDisable: {} });
  }

  /**
   * etcd's Authenticate: check the password against the store as of a linearizable read, then
   * propose the token; when the auth store changed meanwhile, check again.
   */
  async authenticate(req: AuthenticateRequest, ctx?: RequestContext): Promise<AuthenticateResponse> {
    const { core } = this;
    await core.reads.waitReadable();
    for (;;) {
      const checked = await this.gate.run(() => this.checkPassword(req.name, req.password));
      // the proposal speaks for the call's token, as every one etcd makes: an unknown or expired token
      // fails the login with "invalid auth token" (clientv3 drops its token before logging in again)
      const resp = await this.propose<AuthenticateResponse>(ctx, {
        authenticate: {
          name: req.name,
          password: NO_PASSWORD,
          simpleToken: core.auth.tokens.genTokenPrefix(),
        },
      });
      if (checked === core.auth.revision) return resp;
      core.log.info({}, "revision when password checked became stale; retrying");
    }
  }

  /** The auth revision the password was checked at; a failure takes one bcrypt comparison whatever its cause. */
  private async checkPassword(name: string, password: Uint8Array): Promise<number> {
    const { auth } = this.core;
    if (!auth.enabled) throw Errors.AuthNotEnabled;
    const revision = auth.revision;
    const stored = auth.passwordOf(name);
    const ok = await auth.hasher.verify(password, stored.hash);
    if (stored.noPassword) throw AuthErrors.NoPasswordUser;
    if (!stored.exists || !ok) {
      this.core.log.warn({ user: name }, "invalid authentication was requested");
      throw Errors.AuthFailed;
    }
    return revision;
  }

  /**
   * Proposed as etcd 3.4 proposes it: name, password and options as the client sent them, and nothing
   * else (a hashedPassword a client slipped in is dropped: etcd 3.4 knows no such field). Every member
   * hashes the password when it applies the entry. A name longer than a bbolt key is refused before it
   * is proposed: an etcd 3.4 member of the cluster would exit applying it.
   */
  userAdd(req: AuthUserAddRequest, ctx?: RequestContext): Promise<AuthUserAddResponse> {
    const { name, password, options } = req;
    if (rawStringByteLength(name) > MAX_NAME_BYTES) return Promise.reject(AuthErrors.UserNameTooLong);
    return this.propose(ctx, { authUserAdd: { name, password, options, hashedPassword: "" } });
  }

  userChangePassword(
    req: AuthUserChangePasswordRequest,
    ctx?: RequestContext,
  ): Promise<AuthUserChangePasswordResponse> {
    const { name, password } = req;
    return this.propose(ctx, { authUserChangePassword: { name, password, hashedPassword: "" } });
  }

  userGet(req: AuthUserGetRequest, ctx?: RequestContext): Promise<AuthUserGetResponse> {
    return this.propose(ctx, { authUserGet: req });
  }

  userList(ctx?: RequestContext): Promise<AuthUserListResponse> {
    return this.propose(ctx, { authUserList: {} });
  }

  userDelete(req: AuthUserDeleteRequest, ctx?: RequestContext): Promise<AuthUserDeleteResponse> {
    return this.propose(ctx, { authUserDelete: req });
  }

  userGrantRole(req: AuthUserGrantRoleRequest, ctx?: RequestContext): Promise<AuthUserGrantRoleResponse> {
    return this.propose(ctx, { authUserGrantRole: req });
  }

  userRevokeRole(req: AuthUserRevokeRoleRequest, ctx?: RequestContext): Promise<AuthUserRevokeRoleResponse> {
    return this.propose(ctx, { authUserRevokeRole: req });
  }

  /** A name longer than a bbolt key is refused before it is proposed, as in `userAdd`. */
  roleAdd(req: AuthRoleAddRequest, ctx?: RequestContext): Promise<AuthRoleAddResponse> {
    if (rawStringByteLength(req.name) > MAX_NAME_BYTES) return Promise.reject(AuthErrors.RoleNameTooLong);
    return this.propose(ctx, { authRoleAdd: req });
  }

  roleGet(req: AuthRoleGetRequest, ctx?: RequestContext): Promise<AuthRoleGetResponse> {
    return this.propose(ctx, { authRoleGet: req });
  }

  roleList(ctx?: RequestContext): Promise<AuthRoleListResponse> {
    return this.propose(ctx, { authRoleList: {} });
  }

  roleDelete(req: AuthRoleDeleteRequest, ctx?: RequestContext): Promise<AuthRoleDeleteResponse> {
    return this.propose(ctx, { authRoleDelete: req });
  }

  roleGrantPermission(
    req: AuthRoleGrantPermissionRequest,
    ctx?: RequestContext,
  ): Promise<AuthRoleGrantPermissionResponse> {
    return this.propose(ctx, { authRoleGrantPermission: req });
  }

  roleRevokePermission(
    req: AuthRoleRevokePermissionRequest,
    ctx?: RequestContext,
  ): Promise<AuthRoleRevokePermissionResponse> {
    return this.propose(ctx, { authRoleRevokePermission: req });
  }
}
