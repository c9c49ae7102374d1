// A grpc-message value as grpc-go writes it: printable ASCII other than `%` as it is, every other byte
// of the text's UTF-8 percent-encoded (upper-case hex). etcd's texts ("etcdserver: key not found")
// go out as they read; encodeURI would also encode their spaces.

const HEX = "0123456789ABCDEF";

/** Whether `c` is written as it is (0x20-0x7E, not `%`). */
function plain(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x25;
}

/** The grpc-message header's value for a status text. */
export function grpcMessageValue(message: string): string {
  let i = 0;
  while (i < message.length && plain(message.charCodeAt(i))) i++;
  if (i === message.length) return message;
  let out = message.slice(0, i);
  for (const byte of Buffer.from(message.slice(i), "utf8")) {
    out += plain(byte) ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/** A grpc-message value grpc-js wrote (encodeURI) as grpc-go writes it. */
export function grpcGoMessageValue(encoded: string): string {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
  return grpcMessageValue(text);
}
