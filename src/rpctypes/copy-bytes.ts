// Copying part of a buffer without a view of it. Node's Buffer.copy, given a source range that is not
// the whole source, first makes a Uint8Array view of that range (an object of about 100 bytes on the
// heap); on the request path (a put's key and value, a proposal's bytes) that was two or three such
// objects per write. Small ranges are copied byte by byte instead; large ones as Node does, where the
// view is nothing beside the copy.

/** Ranges up to this many bytes are copied by a loop. */
const LOOP_MAX_BYTES = 1024;

/** Copies `src[srcStart, srcStart + n)` to `dst` at `dstStart`; both ranges must be inside their buffers. */
export function copyBytes(
  src: Uint8Array,
  srcStart: number,
  dst: Uint8Array,
  dstStart: number,
  n: number,
): void {
  if (n > LOOP_MAX_BYTES) {
    dst.set(src.subarray(srcStart, srcStart + n), dstStart);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstStart + i] = src[srcStart + i];
}
