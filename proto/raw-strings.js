// Run by generate.sh after `buf generate`: the string fields that name users and roles (and a
// request header's user) carry the bytes a client sent, as etcd's do (gogo checks no UTF-8), through
// src/rpctypes/raw-string.ts: decoded without turning bytes that are not UTF-8 into U+FFFD, encoded
// back to those bytes. The fields stay strings (and the JSON gateway keeps them strings); the wire is
// the same.
//   node proto/raw-strings.js DIR
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** file (under DIR) -> message -> its fields that carry raw bytes. */
const RAW_FIELDS = {
  "etcdserverpb/rpc.ts": {
    AuthenticateRequest: ["name"],
    AuthUserAddRequest: ["name"],
    AuthUserGetRequest: ["name"],
    AuthUserDeleteRequest: ["name"],
    AuthUserChangePasswordRequest: ["name"],
    AuthUserGrantRoleRequest: ["user", "role"],
    AuthUserRevokeRoleRequest: ["name", "role"],
    AuthRoleAddRequest: ["name"],
    AuthRoleGetRequest: ["role"],
    AuthRoleDeleteRequest: ["role"],
    AuthRoleGrantPermissionRequest: ["name"],
    AuthRoleRevokePermissionRequest: ["role"],
    AuthUserGetResponse: ["roles"],
    AuthUserListResponse: ["users"],
    AuthRoleListResponse: ["roles"],
  },
  "etcdserverpb/raft_internal.ts": {
    RequestHeader: ["username"],
    InternalAuthenticateRequest: ["name"],
  },
  "authpb/auth.ts": {
    User: ["roles"],
  },
};

const IMPORT = 'import { decodeRawString, encodeRawString } from "../../rpctypes/raw-string.js";\n';

function replaceOnce(text, from, to, where) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${where}: expected "${from}" once`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function rewriteMessage(block, message, fields) {
  for (const f of fields) {
    const where = `${message}.${f}`;
    const loop = new RegExp(
      `for \\(const v of message\\.${f}\\) \\{\\n\\s*writer\\.uint32\\(\\d+\\)\\.string\\(v!\\);`,
    );
    const repeated = loop.exec(block);
    if (repeated) {
      block = replaceOnce(
        block,
        repeated[0],
        repeated[0].replace(".string(v!)", ".bytes(encodeRawString(v!))"),
        where,
      );
      block = replaceOnce(
        block,
        `message.${f}.push(reader.string());`,
        `message.${f}.push(decodeRawString(reader.bytes()));`,
        where,
      );
    } else {
      const encoder = new RegExp(`writer\\.uint32\\((\\d+)\\)\\.string\\(message\\.${f}\\);`).exec(block);
      if (!encoder) throw new Error(`${where}: no encoder line`);
      block = replaceOnce(
        block,
        encoder[0],
        encoder[0].replace(`.string(message.${f})`, `.bytes(encodeRawString(message.${f}))`),
        where,
      );
      block = replaceOnce(
        block,
        `message.${f} = reader.string();`,
        `message.${f} = decodeRawString(reader.bytes());`,
        where,
      );
    }
  }
  return block;
}

function rewrite(file, messages) {
  let text = readFileSync(file, "utf8");
  for (const [message, fields] of Object.entries(messages)) {
    const head = `export const ${message}: MessageFns<${message}> = {\n`;
    const start = text.indexOf(head);
    if (start < 0) throw new Error(`${file}: no message ${message}`);
    const end = text.indexOf("\n};\n", start);
    text = text.slice(0, start) + rewriteMessage(text.slice(start, end), message, fields) + text.slice(end);
  }
  const firstImport = text.indexOf("import ");
  text = text.slice(0, firstImport) + IMPORT + text.slice(firstImport);
  writeFileSync(file, text);
}

const dir = process.argv[2];
if (dir === undefined) {
  console.error("usage: node proto/raw-strings.js DIR");
  process.exit(2);
}
for (const [file, messages] of Object.entries(RAW_FIELDS)) rewrite(join(dir, file), messages);
