// How errors become client statuses: any layer's error that carries a client status keeps it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TOO_MANY } from "../../src/api/connection-limits.js";
import { httpStatusOf } from "../../src/api/gateway/http-replies.js";
import { toRpcStatus } from "../../src/api/grpc/status.js";
import { AuthErrors, unmappedAuthError } from "../../src/auth/errors.js";
import { Errors } from "../../src/rpctypes/errors.js";

describe("error -> gRPC status", { timeout: 60_000 }, () => {
  it("keeps an EtcdError's code and text", () => {
    assert.deepEqual(toRpcStatus(Errors.Compacted), {
      code: 11,
      message: "etcdserver: mvcc: required revision has been compacted",
    });
  });

  it("uses grpcMessage of a lower layer's error, not its shorter message", () => {
    const mvccError = Object.assign(new Error("mvcc: required revision is a future revision"), {
      code: 11,
      grpcMessage: "etcdserver: mvcc: required revision is a future revision",
    });
    assert.deepEqual(toRpcStatus(mvccError), {
      code: 11,
      message: "etcdserver: mvcc: required revision is a future revision",
    });
  });

  it("turns anything else into Unknown with its raw text", () => {
    assert.deepEqual(toRpcStatus(new Error("disk on fire")), { code: 2, message: "disk on fire" });
    assert.deepEqual(toRpcStatus("plain"), { code: 2, message: "plain" });
  });
});

// The auth and limit errors a client can cause, as Debian's etcd 3.4.23 answers them over gRPC and
// the gateway (checked side by side). Literal on purpose: a change of code or text must fail here.
const etcdAnswers: Array<[string, unknown, number, string, number]> = [
  ["auth enable without user root", Errors.RootUserNotExist, 9, "etcdserver: root user does not exist", 412],
  [
    "auth enable, root lacks role root",
    Errors.RootRoleNotExist,
    9,
    "etcdserver: root user does not have root role",
    412,
  ],
  ["user add of an existing user", Errors.UserAlreadyExist, 9, "etcdserver: user name already exists", 412],
  ["no user (auth on), or user add of ''", Errors.UserEmpty, 3, "etcdserver: user name is empty", 400],
  ["unknown user", Errors.UserNotFound, 9, "etcdserver: user name not found", 412],
  ["role add of an existing role", Errors.RoleAlreadyExist, 9, "etcdserver: role name already exists", 412],
  ["unknown role", Errors.RoleNotFound, 9, "etcdserver: role name not found", 412],
  ["role add of ''", Errors.RoleEmpty, 3, "etcdserver: role name is empty", 400],
  [
    "wrong password or unknown user",
    Errors.AuthFailed,
    3,
    "etcdserver: authentication failed, invalid user ID or password",
    400,
  ],
  [
    "key or admin call outside the user's rights",
    Errors.PermissionDenied,
    7,
    "etcdserver: permission denied",
    403,
  ],
  [
    "revoke of a role the user lacks",
    Errors.RoleNotGranted,
    9,
    "etcdserver: role is not granted to the user",
    412,
  ],
  [
    "revoke of a permission the role lacks",
    Errors.PermissionNotGranted,
    9,
    "etcdserver: permission is not granted to the role",
    412,
  ],
  ["login while auth is off", Errors.AuthNotEnabled, 9, "etcdserver: authentication is not enabled", 412],
  ["unknown, expired or forged token", Errors.InvalidAuthToken, 16, "etcdserver: invalid auth token", 401],
  [
    "deleting root, its role, or root's role root",
    Errors.InvalidAuthMgmt,
    3,
    "etcdserver: invalid auth management",
    400,
  ],
  [
    "token older than the auth store",
    Errors.AuthOldRevision,
    3,
    "etcdserver: revision of auth store is old",
    400,
  ],
  [
    "password given for a no-password user",
    AuthErrors.NoPasswordUser,
    2,
    "auth: authentication failed, password was given for no password user",
    500,
  ],
  ["maintenance without a user", unmappedAuthError(Errors.UserEmpty), 2, "auth: user name is empty", 500],
  ["maintenance by an unknown user", unmappedAuthError(Errors.UserNotFound), 2, "auth: user not found", 500],
  [
    "maintenance by a user without role root",
    unmappedAuthError(Errors.PermissionDenied),
    2,
    "auth: permission denied",
    500,
  ],
  [
    "maintenance with a bad token",
    unmappedAuthError(Errors.InvalidAuthToken),
    2,
    "auth: invalid auth token",
    500,
  ],
  ["request over --max-request-bytes", Errors.RequestTooLarge, 3, "etcdserver: request is too large", 400],
  ["txn over --max-txn-ops", Errors.TooManyOps, 3, "etcdserver: too many operations in txn request", 400],
  ["write past --quota-backend-bytes", Errors.NoSpace, 8, "etcdserver: mvcc: database space exceeded", 429],
  [
    "proposal while applies lag commits",
    Errors.ApplyLagTooManyRequests,
    2,
    "etcdserver: too many requests",
    500,
  ],
];

// rxetcd's own refusals, where etcd 3.4 has no bound or panics.
const rxetcdAnswers: Array<[string, unknown, number, string, number]> = [
  [
    "user name over 32,768 bytes (a bbolt key)",
    AuthErrors.UserNameTooLong,
    3,
    "etcdserver: user name is longer than 32768 bytes",
    400,
  ],
  [
    "role name over 32,768 bytes",
    AuthErrors.RoleNameTooLong,
    3,
    "etcdserver: role name is longer than 32768 bytes",
    400,
  ],
  [
    "role grant without a permission",
    AuthErrors.PermissionNotGiven,
    3,
    "etcdserver: permission not given",
    400,
  ],
  [
    "per-connection watcher or keep-alive stream bound, login queue",
    TOO_MANY,
    8,
    "etcdserver: too many requests",
    429,
  ],
];

describe("auth and limit errors", { timeout: 60_000 }, () => {
  for (const [table, rows] of [
    ["as etcd 3.4 answers", etcdAnswers],
    ["rxetcd's own", rxetcdAnswers],
  ] as const) {
    it(`keep their code, text and gateway status (${table})`, () => {
      for (const [situation, err, code, message, http] of rows) {
        assert.deepEqual(toRpcStatus(err), { code, message }, situation);
        assert.equal(httpStatusOf(code), http, situation);
      }
    });
  }

  it("a watch refused by auth is canceled with the error as grpc-go prints it", () => {
    assert.equal(
      Errors.PermissionDenied.goStatusText,
      "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    );
    assert.equal(
      Errors.InvalidAuthToken.goStatusText,
      "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token",
    );
    assert.equal(
      Errors.AuthOldRevision.goStatusText,
      "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old",
    );
    assert.equal(
      Errors.UserEmpty.goStatusText,
      "rpc error: code = InvalidArgument desc = etcdserver: user name is empty",
    );
  });
});
