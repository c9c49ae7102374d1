// The proxy's memory of the cluster: <data-dir>/proxy/cluster holds {"PeerURLs":[...]}, the peer URLs
// it last learned. A restart from the data dir alone asks those peers, not --initial-cluster. The
// file is replaced whole (written and synced as cluster.bak, then renamed), as etcd does.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import * as t from "io-ts";
import { goQuote } from "../membership/member-json.js";

export class ClusterFileError extends Error {
  override name = "ClusterFileError";
}

const ClusterFileCodec = t.partial({ PeerURLs: t.union([t.array(t.string), t.null]) });

/**
 * The peer URLs of the file at `path`, or undefined when there is none. Keys match case-insensitively
 * and a missing or null list is empty, as Go's json.Unmarshal reads the file.
 */
export function readClusterFile(path: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ClusterFileError(`${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ClusterFileError(`${path}: json: cannot unmarshal into a cluster file`);
  const entries = Object.entries(parsed);
  const key =
    entries.find(([k]) => k === "PeerURLs") ?? entries.find(([k]) => k.toLowerCase() === "peerurls");
  const decoded = ClusterFileCodec.decode(key ? { PeerURLs: key[1] } : {});
  if (decoded._tag === "Left")
    throw new ClusterFileError(`${path}: json: cannot unmarshal PeerURLs into a list of strings`);
  return decoded.right.PeerURLs ?? [];
}

/** The file's text as Go's json.Marshal writes it. */
export function clusterFileText(peerUrls: readonly string[]): string {
  return `{"PeerURLs":[${peerUrls.map(goQuote).join(",")}]}`;
}

/** Which step of replacing the file failed (etcd logs them apart). */
export class ClusterFileWriteError extends Error {
  override name = "ClusterFileWriteError";
  constructor(
    readonly step: "write" | "rename",
    override readonly cause: Error,
  ) {
    super(cause.message);
  }
}

/** Writes `path`.bak, syncs it and renames it over `path`; a failure leaves the old file in place. */
export function writeClusterFile(path: string, peerUrls: readonly string[]): void {
  const bak = `${path}.bak`;
  try {
    const fd = openSync(bak, "w", 0o600);
    try {
      writeSync(fd, clusterFileText(peerUrls));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new ClusterFileWriteError("write", err as Error);
  }
  try {
    renameSync(bak, path);
  } catch (err) {
    throw new ClusterFileWriteError("rename", err as Error);
  }
}
