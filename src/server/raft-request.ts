import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { InternalRaftRequest, RequestHeader } from "../gen/etcdserverpb/raft_internal.js";
import { PutRequest } from "../gen/etcdserverpb/rpc.js";

/** InternalRaftRequest's `put` (field 4) and `header` (field 100), both length-delimited. */
const PUT_TAG = (4 << 3) | 2;
const HEADER_TAG = (100 << 3) | 2;

/** Requests above this size get a writer of their own (a huge one must not keep its buffer alive). */
const REUSED_WRITER_MAX_BYTES = 64 * 1024;
/**
 * The writer every proposal is encoded with: it grows once to the usual size and keeps its buffer (a
 * new writer starts at 128 bytes and doubles, three buffers for a 256-byte put). finish() hands out an
 * exact-size copy and leaves it empty.
 */
let writer = new BinaryWriter();

/** True when a request carries a put and nothing else but its header. */
function isPlainPut(
  req: Partial<InternalRaftRequest>,
): req is Partial<InternalRaftRequest> & { put: PutRequest } {
  if (req.put === undefined) return false;
  for (const key in req) {
    if (key !== "put" && key !== "header" && req[key as keyof InternalRaftRequest] !== undefined)
      return false;
  }
  return true;
}

/**
 * The bytes proposed through raft for a request and its header. A put (every client write of the
 * put rows) is written straight from the decoded client request, in the field order of the generated
 * encoder (put, then header), which gives the bytes of fromPartial + encode without fromPartial's
 * deep copy of the request. Any other request takes fromPartial, whose defaults also cover objects
 * built in code. The result wraps the encoder's own exact-size copy (no second copy).
 */
export function encodeRaftRequest(req: Partial<InternalRaftRequest>, header: RequestHeader): Buffer {
  let bytes: Uint8Array;
  try {
    if (isPlainPut(req)) {
      PutRequest.encode(req.put, writer.uint32(PUT_TAG).fork()).join();
      RequestHeader.encode(header, writer.uint32(HEADER_TAG).fork()).join();
      bytes = writer.finish();
    } else {
      bytes = InternalRaftRequest.encode(
        InternalRaftRequest.fromPartial({ ...req, header }),
        writer,
      ).finish();
    }
  } catch (err) {
    writer = new BinaryWriter(); // a half-written request must not lead the next one
    throw err;
  }
  if (bytes.byteLength > REUSED_WRITER_MAX_BYTES) writer = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
