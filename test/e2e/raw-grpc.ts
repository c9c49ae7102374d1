// Unary gRPC calls of raw message bytes (grpc-js with identity serializers), for comparing servers'
// answers byte for byte: an answer is summed up as its status, or its fields but the header in hex.
import { type Client, Metadata } from "@grpc/grpc-js";

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}
/** A message of length-delimited fields. */
export const msg = (...fields: [number, Buffer | string][]): Buffer =>
  Buffer.concat(
    fields.map(([n, v]) => {
      const b = Buffer.from(v);
      return Buffer.concat([Buffer.from([(n << 3) | 2, ...varint(b.length)]), b]);
    }),
  );

/** The length-delimited fields of a message, by field number (the last of each). */
export function fieldsOf(m: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let i = 0; i < m.length; ) {
    const tag = m[i++];
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = m[i++];
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    out.set(tag >> 3, m.subarray(i, i + len));
    i += len;
  }
  return out;
}

/** An answer's fields but its header (field 1) in hex, or its status; a token (field 2 of Authenticate) as "token". */
function summary(err: { code?: number; details?: string } | null, answer: Buffer | undefined, path: string) {
  if (err) return `status ${err.code} ${err.details}`;
  const bytes = answer as Buffer;
  if (path.endsWith("/Authenticate")) return fieldsOf(bytes).has(2) ? "token" : "no token";
  let i = 0;
  if (bytes[0] === 0x0a) i = 2 + bytes[1];
  return `ok ${bytes.subarray(i).toString("hex")}`;
}

/** One unary call of `body` to `path` (with a token when given): its summary and the answer's bytes. */
export function call(client: Client, path: string, body: Buffer, token?: string): Promise<[string, Buffer?]> {
  const md = new Metadata();
  if (token !== undefined) md.set("token", token);
  const same = (b: Buffer) => b;
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, same, same, body, md, (err, answer) =>
      resolve([summary(err, answer, path), answer]),
    );
  });
}
