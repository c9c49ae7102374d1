import type { AuthInfo } from "../auth/context.js";
import type { AuthStore } from "../auth/store.js";
import type { FeedAuthenticator } from "../feed/index.js";
import { Errors } from "../rpctypes/errors.js";

const NO_END = Buffer.alloc(0);

/**
 * The feed's credentials check, over the member's auth store: a connection presents a token (or a
 * verified client certificate) and then sees only the keys its user may read. The check runs per
 * event against the store as it is now, so auth enabled later, or a permission revoked, counts at
 * once; an anonymous connection sees nothing while auth is on.
 */
export function feedAuthenticator(auth: AuthStore): FeedAuthenticator {
  return async ({ token, certificateCommonName }) => {
    const ctx =
      token !== undefined
        ? { token }
        : certificateCommonName !== undefined
          ? { commonName: certificateCommonName }
          : undefined;
    const ai: AuthInfo | undefined = await auth.authInfo(ctx);
    if (auth.enabled && !ai) throw Errors.UserEmpty;
    const username = ai?.username;
    return {
      name: username ?? "",
      canRead: (key: Uint8Array) => {
        if (!auth.enabled) return true;
        if (username === undefined) return false;
        try {
          auth.checkAccess({ username, revision: auth.revision }, Buffer.from(key), NO_END, "read");
          return true;
        } catch {
          return false;
        }
      },
    };
  };
}
