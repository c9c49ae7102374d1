import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { InternalRaftRequest, RequestHeader } from "../gen/etcdserverpb/raft_internal.js";
import { DeleteRangeRequest, PutRequest, TxnRequest } from "../gen/etcdserverpb/rpc.js";
import { decodePutRange } from "../rpctypes/put-request-bytes.js";
import { decodeRawString, encodeRawString, hasRawBytes } from "../rpctypes/raw-string.js";
import { bigVarint, plainVarint, varintEnd } from "../rpctypes/varint-bytes.js";
import { ByteSlab } from "../transport/byte-slab.js";
import { isPlainVarint, WireBuffer } from "./wire-buffer.js";

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

/**
 * Where proposals' bytes are kept: a proposal stays in the raft log until the log is compacted, and
 * proposals made one after the other share blocks (see byte-slab.ts).
 */
const proposalBytes = new ByteSlab();
const allocProposal = (bytes: number): Buffer => proposalBytes.alloc(bytes);

/** Where puts are encoded (every write of a put load comes this way). */
const putWire = new WireBuffer();
/** The largest lease id written as a plain varint (a number holds it exactly). */
const MAX_PLAIN_LEASE = BigInt(Number.MAX_SAFE_INTEGER);
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * A put and its header as the generated encoders write them (the put's fields, then the header's, in
 * field order), with no BigInt made on the way; undefined for values only the generated code handles
 * (a negative or huge lease, a huge auth revision, an ID past uint64), which then takes it.
 */
function encodePut(put: PutRequest, header: RequestHeader): Buffer | undefined {
  if (
    put.lease < 0n ||
    put.lease > MAX_PLAIN_LEASE ||
    header.ID < 0n ||
    header.ID > UINT64_MAX ||
    !isPlainVarint(header.authRevision)
  )
    return undefined;
  const w = putWire;
  try {
    w.byte(clientWrites.put.tag);
    w.fork();
    if (put.key.length !== 0) {
      w.byte(10);
      w.bytes(put.key);
    }
    if (put.value.length !== 0) {
      w.byte(18);
      w.bytes(put.value);
    }
    if (put.lease !== 0n) {
      w.byte(24);
      w.varint(Number(put.lease));
    }
    if (put.prevKv !== false) {
      w.byte(32);
      w.byte(put.prevKv ? 1 : 0);
    }
    if (put.ignoreValue !== false) {
      w.byte(40);
      w.byte(put.ignoreValue ? 1 : 0);
    }
    if (put.ignoreLease !== false) {
      w.byte(48);
      w.byte(put.ignoreLease ? 1 : 0);
    }
    w.join();
    w.varint(HEADER_TAG);
    w.fork();
    if (header.ID !== 0n) {
      w.byte(8);
      w.uint64(header.ID);
    }
    if (header.username !== "") {
      w.byte(18);
      if (hasRawBytes(header.username)) w.bytes(encodeRawString(header.username));
      else w.string(header.username);
    }
    if (header.authRevision !== 0) {
      w.byte(24);
      w.varint(header.authRevision);
    }
    w.join();
  } catch (err) {
    w.reset(); // a half-written request must not lead the next one
    throw err;
  }
  return w.takeWith(allocProposal);
}

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
 * An InternalRaftRequest with no field set, in the generated decoder's field order: what the decoder
 * starts from, so a request built from it has the decoder's shape.
 */
const NO_REQUEST: InternalRaftRequest = InternalRaftRequest.fromPartial({});

/**
 * A proposed put's request as its apply reads it: the put and the header are the object's own, and every
 * other field of InternalRaftRequest reads its default (undefined, or ID 0) from the prototype. The
 * generated shape has 28 fields of its own: spread from the defaults, each proposal made a 260-byte
 * object that lived until its apply, the largest single allocation of a put on the leader.
 */
class ProposedPut {
  constructor(
    readonly put: PutRequest,
    readonly header: RequestHeader,
  ) {}
}
for (const [field, value] of Object.entries(NO_REQUEST))
  if (field !== "put" && field !== "header")
    Object.defineProperty(ProposedPut.prototype, field, { value, enumerable: false, writable: false });

/**
 * What decoding a hand-written put gives, built from the request itself; undefined unless every field
 * has exactly the type and value the decoder would produce (bytes as Buffers, booleans, a user name
 * of UTF-8 text), so that applying it is applying the proposed bytes. Each field reads as the decoder's
 * would, though only the put and the header are the object's own (see ProposedPut).
 */
function decodedPut(put: PutRequest, header: RequestHeader): InternalRaftRequest | undefined {
  const { key, value, lease, prevKv, ignoreValue, ignoreLease } = put;
  if (
    !Buffer.isBuffer(key) ||
    !Buffer.isBuffer(value) ||
    typeof lease !== "bigint" ||
    typeof prevKv !== "boolean" ||
    typeof ignoreValue !== "boolean" ||
    typeof ignoreLease !== "boolean" ||
    typeof header.username !== "string" ||
    (header.username !== "" && hasRawBytes(header.username))
  )
    return undefined;
  const request = new ProposedPut(
    { key, value, lease, prevKv, ignoreValue, ignoreLease },
    { ID: header.ID, username: header.username, authRevision: header.authRevision },
  );
  // every field InternalRaftRequest has reads as it must (see ProposedPut); the type cannot say so
  return request as unknown as InternalRaftRequest;
}

/** HEADER_TAG as its varint's two bytes. */
const HEADER_TAG_BYTE_0 = (HEADER_TAG & 0x7f) | 0x80;
const HEADER_TAG_BYTE_1 = HEADER_TAG >> 7;
/**
 * A put entry's request decoded by hand, in the layout encodePut writes (the put, then a header of an ID,
 * a user name and an auth revision), as the generated decoder would decode it; undefined for anything
 * else, which the generated decoder then decodes. A follower applies every put it is sent this way: the
 * generated decoder made a reader, a 28-field request and a header for each.
 */
export function decodePutEntry(data: Uint8Array): InternalRaftRequest | undefined {
  const end = data.length;
  if (end < 2 || data[0] !== clientWrites.put.tag) return undefined;
  const putLength = plainVarint(data, 1, end);
  if (putLength < 0 || varintEnd + putLength > end) return undefined;
  const putEnd = varintEnd + putLength;
  const put = decodePutRange(data, varintEnd, putEnd);
  if (put === undefined) return undefined;
  let pos = putEnd;
  if (pos + 2 > end || data[pos] !== HEADER_TAG_BYTE_0 || data[pos + 1] !== HEADER_TAG_BYTE_1)
    return undefined;
  const headerLength = plainVarint(data, pos + 2, end);
  // nothing may follow the header (a field after it would be the generated decoder's to merge)
  if (headerLength < 0 || varintEnd + headerLength !== end) return undefined;
  pos = varintEnd;
  let id = 0n;
  let username = "";
  let authRevision = 0;
  while (pos < end) {
    const tag = data[pos++];
    if (tag === 8) {
      const read = bigVarint(data, pos, end, 10);
      if (read === undefined) return undefined;
      id = read;
      pos = varintEnd;
    } else if (tag === 18) {
      const length = plainVarint(data, pos, end);
      if (length < 0 || varintEnd + length > end) return undefined;
      pos = varintEnd;
      username = length === 0 ? "" : decodeRawString(data.subarray(pos, pos + length));
      pos += length;
    } else if (tag === 24) {
      const value = plainVarint(data, pos, end);
      if (value < 0) return undefined;
      pos = varintEnd;
      authRevision = value;
    } else {
      return undefined;
    }
  }
  const request = new ProposedPut(put, { ID: id, username, authRevision });
  return request as unknown as InternalRaftRequest;
}

/** A proposal's bytes, and the request they decode to when that is known without decoding them. */
export interface Proposal {
  readonly data: Buffer;
  readonly decoded: InternalRaftRequest | undefined;
}

/**
 * The bytes proposed through raft for a request and its header, and for a put written by hand the
 * request they decode to (a member that applies its own proposal need not decode it again).
 */
export function encodeProposal(req: Partial<InternalRaftRequest>, header: RequestHeader): Proposal {
  const write = soleClientWrite(req);
  if (write === "put" && req.put !== undefined) {
    const data = encodePut(req.put, header);
    if (data !== undefined) return { data, decoded: decodedPut(req.put, header) };
  }
  return { data: encodeWithGenerated(req, header, write), decoded: undefined };
}

/**
 * The bytes proposed through raft for a request and its header. A client write (put, delete or txn)
 * is written straight from the decoded client request, in the field order of the generated encoder
 * (the write, then the header), which gives the bytes of fromPartial + encode without fromPartial's
 * deep copy of the request; a put is written by hand, into a buffer kept between proposals. Any other
 * request takes fromPartial, whose defaults also cover objects built in code. The result is one
 * exact-size copy, in the proposals' slab.
 */
export function encodeRaftRequest(req: Partial<InternalRaftRequest>, header: RequestHeader): Buffer {
  return encodeProposal(req, header).data;
}

function encodeWithGenerated(
  req: Partial<InternalRaftRequest>,
  header: RequestHeader,
  write: ClientWrite | undefined,
): Buffer {
  let bytes: Uint8Array;
  try {
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
  const data = allocProposal(bytes.byteLength);
  data.set(bytes);
  return data;
}
