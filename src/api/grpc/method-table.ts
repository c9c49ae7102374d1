// The gRPC methods the client port serves (etcd's services and health), and grpc-go's answer to a
// path that names none of them: code 8 "malformed method name" for a path without a service, code 12
// "unknown service S" or "unknown method M for service S" otherwise (etcd registers no handler for
// unknown services).
import { GrpcCode } from "../../rpctypes/errors.js";
import { servedServices } from "./served-services.js";

/** A gRPC status: its code and text. */
export interface GrpcStatus {
  code: number;
  message: string;
}

/** Go's %q of a string: double quotes, backslash escapes for quotes, backslashes and control characters. */
export function goQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

export class MethodTable {
  private readonly paths = new Set<string>();
  private readonly services = new Set<string>();

  constructor(definitions: Record<string, { path: string }>[] = servedServices) {
    for (const service of definitions) {
      for (const { path } of Object.values(service)) {
        this.paths.add(path);
        this.services.add(path.slice(1, path.lastIndexOf("/")));
      }
    }
  }

  /** Whether `path` is a method the port serves. */
  serves(path: string): boolean {
    return this.paths.has(path);
  }

  /** grpc-go's status for a path that names no served method; undefined for a served one. */
  unserved(path: string): GrpcStatus | undefined {
    if (this.paths.has(path)) return undefined;
    const name = path.charCodeAt(0) === 0x2f ? path.slice(1) : path;
    const at = name.lastIndexOf("/");
    if (at === -1)
      return { code: GrpcCode.ResourceExhausted, message: `malformed method name: ${goQuoted(path)}` };
    const service = name.slice(0, at);
    const method = name.slice(at + 1);
    // a served method named without the leading slash: grpc-go serves it; so does the call it is forwarded to
    if (this.paths.has(`/${name}`)) return undefined;
    if (this.services.has(service))
      return { code: GrpcCode.Unimplemented, message: `unknown method ${method} for service ${service}` };
    return { code: GrpcCode.Unimplemented, message: `unknown service ${service}` };
  }
}
