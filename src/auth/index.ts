// Users, roles, key-range permissions and tokens (etcd's auth package).
export { applyAuthRequest, isAuthRequest } from "./apply.js";
export { type AuthInfo, internalRootContext, type RequestContext } from "./context.js";
export { AuthErrors } from "./errors.js";
export { type JwtOptions, JwtTokenProvider } from "./jwt-token.js";
export { PasswordHasher } from "./password.js";
export { passwordToHash } from "./password-entries.js";
export { checkAppliedRequest, checkTxn } from "./request-permissions.js";
export { SimpleTokenProvider } from "./simple-token.js";
export {
  AUTH_BUCKET,
  AUTH_ROLES_BUCKET,
  AUTH_USERS_BUCKET,
  type AuthApplied,
  type AuthRecordChange,
  AuthStore,
  type AuthStoreOptions,
} from "./store.js";
export { createTokenProvider, type TokenProviderDeps, type TokenSpec } from "./token-options.js";
export type { TokenProvider } from "./token-provider.js";
