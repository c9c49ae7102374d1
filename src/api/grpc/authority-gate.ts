// Node's HTTP/2 runs at native speed only on a real socket; any JavaScript stream in between (the
// :authority repair, authority-repair.ts) costs every byte of the connection a trip through JS. Only
// connections whose requests carry a URL as :authority (Go clients dialing "passthrough:///http://...")
// need the repair, and a gRPC client uses one authority for all of a connection's requests, so the
// first header block decides: this gate reads a connection up to it, then hands Node the socket
// itself, or the repairing wrapper when the authority needs it.
//
// Go clients send no request before the server's preface (a SETTINGS frame), and Node's HTTP/2 only
// sends one once it owns the connection. The gate therefore sends the preface itself: an empty
// SETTINGS frame (nothing changed from the defaults, so the client waits for nothing), and removes the
// client's acknowledgement of it, which Node would refuse as unexpected. Node's own SETTINGS follow.
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { validAuthority, withAuthorityRepair } from "./authority-repair.js";
import { HpackDecoder } from "./hpack.js";
import {
  emptySettingsFrame,
  Flag,
  FrameType,
  frameHeaderLength,
  frameLength,
  headersFragment,
  isSettingsAck,
  prefaceLength,
} from "./http2-frames.js";

/** Bytes a client may send before its first request completes before the gate stops waiting. */
const maxGateBytes = 256 * 1024;

export type GateVerdict = "direct" | "repair";

/** The authority of a decoded first header block: does Node's HTTP/2 accept it as is? */
function judge(fragments: Buffer[]): GateVerdict {
  try {
    const fields = new HpackDecoder().decode(Buffer.concat(fragments));
    const authority = fields.find(([n]) => n === ":authority" || n === "host");
    return authority === undefined || validAuthority.test(authority[1]) ? "direct" : "repair";
  } catch {
    // Not ours to judge: the wrapper passes undecodable blocks on and Node answers as it does.
    return "repair";
  }
}

/**
 * Reads an HTTP/2 connection (its preface not yet consumed) up to its first complete header block,
 * then calls `inject` with the socket itself or with the repairing wrapper. A connection that sends
 * anything that wants an answer (a PING, say) before its first request goes to the wrapper at once.
 */
export function gateHttp2Connection(
  socket: Socket,
  inject: (connection: Duplex, verdict: GateVerdict) => void,
): void {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let pending: Buffer = Buffer.alloc(0);
  let prefaceSeen = false;
  let ackSeen = false;
  let block: Buffer[] | undefined;
  let verdict: GateVerdict | undefined;

  const keep = (buf: Buffer) => {
    kept.push(buf);
    keptBytes += buf.length;
  };
  const finish = (v: GateVerdict) => {
    socket.off("data", onData);
    socket.pause();
    socket.unshift(Buffer.concat([...kept, pending]));
    if (v === "direct") inject(socket, v);
    else inject(withAuthorityRepair(socket, { settingsAckPending: !ackSeen }), v);
  };
  const onFrame = (frame: Buffer) => {
    if (!ackSeen && isSettingsAck(frame)) {
      ackSeen = true;
      return;
    }
    keep(frame);
    if (verdict !== undefined) return;
    const type = frame[3];
    if (block !== undefined) {
      if (type !== FrameType.CONTINUATION) verdict = "repair";
      else block.push(frame.subarray(frameHeaderLength));
    } else if (type === FrameType.HEADERS) {
      block = [headersFragment(frame)];
    } else if (
      type !== FrameType.SETTINGS &&
      type !== FrameType.WINDOW_UPDATE &&
      type !== FrameType.PRIORITY
    ) {
      verdict = "repair";
    }
    if (verdict === undefined && block !== undefined && frame[4] & Flag.END_HEADERS) verdict = judge(block);
  };
  function onData(chunk: Buffer) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!prefaceSeen) {
      if (pending.length < prefaceLength) return;
      keep(pending.subarray(0, prefaceLength));
      pending = pending.subarray(prefaceLength);
      prefaceSeen = true;
      socket.write(emptySettingsFrame);
    }
    for (;;) {
      const length = frameLength(pending);
      if (length === undefined || pending.length < length) break;
      onFrame(pending.subarray(0, length));
      pending = pending.subarray(length);
      // The wrapper removes a late acknowledgement itself; Node alone could not.
      if (verdict === "repair" || (verdict === "direct" && ackSeen)) return finish(verdict);
    }
    if (keptBytes + pending.length > maxGateBytes) finish("repair");
  }
  socket.on("data", onData);
  socket.resume();
}
