import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { InternalRaftRequest, RequestHeader } from "../gen/etcdserverpb/raft_internal.js";
import { PutRequest } from "../gen/etcdserverpb/rpc.js";

/** InternalRaftRequest's `put` (field 4) and `header` (field 100), both length-delimited. */
const PUT_TAG = (4 << 3) | 2;
const HEADER_TAG = (100 << 3) | 2;

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
  if (isPlainPut(req)) {
    const writer = new BinaryWriter();
    PutRequest.encode(req.put, writer.uint32(PUT_TAG).fork()).join();
    RequestHeader.encode(header, writer.uint32(HEADER_TAG).fork()).join();
    bytes = writer.finish();
  } else {
    bytes = InternalRaftRequest.encode(InternalRaftRequest.fromPartial({ ...req, header })).finish();
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
