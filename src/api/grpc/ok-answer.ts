// A unary call's answer (HEADERS, the message's DATA, the OK trailers) in one socket write, as etcd
// sends it. Node's http2 asks for trailers only once nghttp2 finds the stream's data at its end, and
// that end comes when the writable side shuts down, which Node does after the DATA's write callback,
// itself after the socket write: the trailers left in a second write one or more loop turns later
// (about 110 us of every put's round trip). Here the native stream shuts down in the turn the message
// is queued, so nghttp2 reads the message and its end together and asks for the trailers while it
// builds the frames; the trailers go onto nghttp2's queue right then (the native call Node's own
// sendTrailers makes a turn later; nghttp2 allows it there), and all three frames leave together.
// This leans on Node's internals (lib/internal/http2/core.js: the stream's state and native handle);
// each is checked, and where one is not as expected the answer goes out Node's documented way.
import type { ServerHttp2Stream } from "node:http2";
import { answerHeaders, okTrailers, sendOkTrailers } from "./call-stream.js";

/** An answer ends with trailers (grpc-status). No `date` header: etcd's answers carry none, and node would format one for every answer. */
const answerOptions = { waitForTrailers: true, sendDate: false };

/** Node's flag of a stream whose trailers are still to come (set by respond's waitForTrailers). */
const STREAM_FLAGS_HAS_TRAILERS = 0x20;

/** The part of Node's per-stream state used here (the shutdown mark is set by the first shutdown). */
interface StreamState {
  flags: number;
  shutdownWritableCalled?: boolean;
}
/** Node's native stream: `trailers` submits a header list to nghttp2 (negative: nghttp2's error). */
interface NativeStream {
  trailers(list: unknown): number;
}
type InternalStream = ServerHttp2Stream & Record<symbol, unknown>;

/** Set when a stream's early shutdown did not go as Node's internals were expected to take it. */
let earlyShutdownOff = false;
/** The keys of Node's stream state and native handle, found on the first stream (null: not there). */
let stateKey: symbol | null | undefined;
let handleKey: symbol | null | undefined;
/**
 * The OK trailers as Node's native header list, taken from the first answer Node sends its own way
 * (its encoding is Node's own business and differs between versions).
 */
let okTrailerList: unknown;

function findKeys(stream: ServerHttp2Stream): void {
  stateKey = null;
  handleKey = null;
  for (const key of Object.getOwnPropertySymbols(stream)) {
    if (key.description === "state") stateKey = key;
    else if (key.description === "kHandle") handleKey = key;
  }
}

function stateOf(stream: ServerHttp2Stream): StreamState | undefined {
  if (stateKey === undefined) findKeys(stream);
  if (stateKey === null || stateKey === undefined) return undefined;
  const state = (stream as InternalStream)[stateKey] as Partial<StreamState> | undefined;
  return typeof state?.flags === "number" ? (state as StreamState) : undefined;
}

function nativeOf(stream: ServerHttp2Stream): NativeStream | undefined {
  if (handleKey === null || handleKey === undefined) return undefined;
  const handle = (stream as InternalStream)[handleKey] as Partial<NativeStream> | undefined;
  return typeof handle?.trailers === "function" ? (handle as NativeStream) : undefined;
}

/** Whether a list handed to the native `trailers` looks like the OK trailers' ([text, count] today). */
function isOkTrailerList(list: unknown): boolean {
  return Array.isArray(list) && list.length === 2 && typeof list[0] === "string" && list[1] === 2;
}

/**
 * Sends the OK trailers Node's way, and keeps the native header list Node makes of them (its stream
 * submits them a turn later through the handle's `trailers`, wrapped here for that one call).
 */
function sendAndKeepTrailerList(stream: ServerHttp2Stream, handle: NativeStream | undefined): void {
  if (handle !== undefined && !Object.hasOwn(handle, "trailers")) {
    const submit = handle.trailers;
    handle.trailers = function keepList(this: NativeStream, list: unknown): number {
      delete (this as Partial<NativeStream>).trailers;
      if (okTrailerList === undefined && isOkTrailerList(list)) okTrailerList = list;
      return submit.call(this, list);
    };
  }
  stream.sendTrailers(okTrailers);
}

/**
 * 'wantTrailers' of a stream shut down early: called while nghttp2 builds the stream's frames, it
 * submits the trailers there, as Node's sendTrailers does from its next turn (which clears the flag).
 */
function submitOkTrailers(this: ServerHttp2Stream): void {
  const state = stateOf(this);
  const handle = nativeOf(this);
  if (okTrailerList === undefined || state === undefined || handle === undefined) {
    sendAndKeepTrailerList(this, handle);
    return;
  }
  state.flags &= ~STREAM_FLAGS_HAS_TRAILERS;
  if (handle.trailers(okTrailerList) < 0) {
    // Node's way from here (it submits once more next turn and destroys the stream if that fails too)
    state.flags |= STREAM_FLAGS_HAS_TRAILERS;
    this.sendTrailers(okTrailers);
  }
}

/** Whether Node has shut the stream's writable side down (its mark against a second shutdown). */
function shutDown(state: StreamState): boolean {
  return state.shutdownWritableCalled === true;
}

/** Whether Writable.end hands the message to Node's stream at once (nothing queued or corked before it). */
function writesAtOnce(stream: ServerHttp2Stream): boolean {
  return !stream.pending && stream.writableLength === 0 && stream.writableCorked === 0;
}

/** Answers given in this turn of the event loop (reset at its check phase). */
let answersThisTurn = 0;
function resetAnswers(): void {
  answersThisTurn = 0;
}

/**
 * Whether this is the turn's first answer. Only a lone answer (one client waiting: its round trip is
 * the rate) takes the early shutdown: many answers in one turn leave together anyway, and there the
 * extra native send per answer cost CPU (put with 64 clients: 150-158 against 111-147 us per put).
 */
function firstAnswerOfTurn(): boolean {
  if (answersThisTurn++ === 0) setImmediate(resetAnswers);
  return answersThisTurn === 1;
}

/**
 * Answers a call with one message frame and the OK trailers (grpc-status 0, an empty grpc-message),
 * in one socket write where Node's internals are as expected, else as Node sends them by itself.
 */
export function answerOk(stream: ServerHttp2Stream, frame: Uint8Array): void {
  stream.respond(answerHeaders, answerOptions);
  const state =
    !earlyShutdownOff && firstAnswerOfTurn() && writesAtOnce(stream) ? stateOf(stream) : undefined;
  if (
    state === undefined ||
    shutDown(state) ||
    (state.flags & STREAM_FLAGS_HAS_TRAILERS) === 0 ||
    typeof stream._final !== "function"
  ) {
    stream.on("wantTrailers", sendOkTrailers);
    stream.end(frame);
    return;
  }
  stream.on("wantTrailers", submitOkTrailers);
  stream.end(frame);
  // The message is on the native stream's queue now; its writable side shuts down before nghttp2
  // reads it (Node's own _final; when the Writable calls it later, Node sees it done and goes on).
  stream._final(ignoreShutdown);
  // Node marks a shut-down stream so that its Writable's own _final does not shut it down again; a
  // Node that does not is left to its documented way from the next answer on
  if (!shutDown(state)) earlyShutdownOff = true;
}

function ignoreShutdown(): void {
  // the stream's own end (its Writable's 'finish') follows the message's write, as without this
}
