import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { InternalRaftRequest, RequestHeader } from "../gen/etcdserverpb/raft_internal.js";
import { DeleteRangeRequest, PutRequest, TxnRequest } from "../gen/etcdserverpb/rpc.js";

/** InternalRaftRequest's `header` (field 100), length-delimited. */
const HEADER_TAG = (100 << 3) | 2;

/**
 * The client writes, each written straight from its decoded request: the field's tag (put 4,
 * delete_range 5, txn 6, length-delimited) and its message encoder. All come before the header in
 * the generated encoder's order.
 */
const clientWrites = {
  put: { tag: (4 << 3) | 2, encode: PutRequest.encode },
  deleteRange: { tag: (5 << 3) | 2, encode: DeleteRangeRequest.encode },
  txn: { tag: (6 << 3) | 2, encode: TxnRequest.encode },
} as const;
type ClientWrite = keyof typeof clientWrites;

/** Requests above this size get a writer of their own (a huge one must not keep its buffer alive). */
const REUSED_WRITER_MAX_BYTES = 64 * 1024;
/**
 * The writer every proposal is encoded with: it grows once to the usual size and keeps its buffer (a
 * new writer starts at 128 bytes and doubles, three buffers for a 256-byte put). finish() hands out an
 * exact-size copy and leaves it empty.
 */
let writer = new BinaryWriter();

/** The client write a request carries when it carries one and nothing else but its header. */
function soleClientWrite(req: Partial<InternalRaftRequest>): ClientWrite | undefined {
  let found: ClientWrite | undefined;
  for (const key in req) {
    if (key === "header" || req[key as keyof InternalRaftRequest] === undefined) continue;
    if (found !== undefined || (key !== "put" && key !== "deleteRange" && key !== "txn")) return undefined;
    found = key;
  }
  return found;
}

/**
 * The bytes proposed through raft for a request and its header. A client write (put, delete or txn)
 * is written straight from the decoded client request, in the field order of the generated encoder
 * (the write, then the header), which gives the bytes of fromPartial + encode without fromPartial's
 * deep copy of the request. Any other request takes fromPartial, whose defaults also cover objects
 * built in code. The result wraps the encoder's own exact-size copy (no second copy).
 */
export function encodeRaftRequest(req: Partial<InternalRaftRequest>, header: RequestHeader): Buffer {
  let bytes: Uint8Array;
  try {
    const write = soleClientWrite(req);
    if (write !== undefined) {
      const { tag, encode } = clientWrites[write];
      (encode as (message: unknown, writer: BinaryWriter) => BinaryWriter)(
        req[write],
        writer.uint32(tag).fork(),
      ).join();
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
