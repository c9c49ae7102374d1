// Naming the frames of a V8 profile (heap or CPU) taken of a member: the bundle a member ships as is one
// file, so a frame there is placed by the module marker esbuild left nearest before it.
import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** A profile node's call frame, as both of V8's profilers write it. */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

/** A bundle file's lines and the module markers esbuild left in it, read once. */
interface BundleText {
  readonly lines: readonly string[];
  /** Per line: [column, module path] of each `"dist/src/....js"(){` marker, in order. */
  readonly markers: readonly (readonly [number, string])[][];
}
const bundles = new Map<string, BundleText>();

function bundleText(path: string): BundleText {
  let text = bundles.get(path);
  if (text === undefined) {
    const lines = readFileSync(path, "utf8").split("\n");
    const markers = lines.map((line) =>
      [...line.matchAll(/"dist\/((?:src|streams)\/[^"]+)\.js"\(\)\{/g)].map(
        (m) => [m.index ?? 0, m[1]] as const,
      ),
    );
    text = { lines, markers };
    bundles.set(path, text);
  }
  return text;
}

/** The module whose marker comes last before a position in a bundle file. */
function moduleBefore(text: BundleText, line: number, column: number): string {
  for (let l = line; l >= 0; l--) {
    const marks = text.markers[l] ?? [];
    for (let k = marks.length - 1; k >= 0; k--) if (l < line || marks[k][0] <= column) return marks[k][1];
  }
  return "?";
}

/** A bundle file's source map (the build writes one beside the command's bundle), read once; null if none. */
const maps = new Map<string, SourceMap | null>();

function sourceMapOf(path: string): SourceMap | null {
  let map = maps.get(path);
  if (map === undefined) {
    map = existsSync(`${path}.map`) ? new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8"))) : null;
    maps.set(path, map);
  }
  return map;
}

/**
 * The project module (`src/wal/wal`) a position in a bundle file comes from: by the source map when the
 * build wrote one, else by the module marker before it (which, for a plain function, esbuild hoisted ahead of
 * its own module's marker, names the module before). "?" when it is no module of the project's.
 */
function bundleModuleAt(path: string, line: number, column: number): string {
  const map = sourceMapOf(path);
  if (map !== null) {
    const entry: { originalSource?: string } = map.findEntry(line, column);
    const found = entry.originalSource?.match(/(?:^|\/)((?:src|streams)\/[^:]+?)\.[cm]?[jt]s$/);
    // a dependency's code in the bundle maps to node_modules
    return found && !entry.originalSource?.includes("node_modules/") ? found[1] : "?";
  }
  return moduleBefore(bundleText(path), line, column);
}

/** A frame's file: relative to the checkout when inside it, else as V8 named it ("" for native code). */
function frameFile(frame: CallFrame, root: string): { path: string; file: string } {
  const path = frame.url.startsWith("file://") ? fileURLToPath(frame.url) : frame.url;
  return { path, file: path.startsWith(root) ? path.slice(root.length) : path };
}

/**
 * The project module a frame runs in (`src/raft/raft`, say), from the sources or from the bundle's markers;
 * undefined for code that is not the project's (node's, a dependency's, native).
 */
export function projectModule(frame: CallFrame, root: string): string | undefined {
  if (!frame.url.startsWith("file://")) return undefined;
  const { path, file } = frameFile(frame, root);
  if (path.startsWith(join(root, "dist/bundle/")) && existsSync(path)) {
    const module = bundleModuleAt(path, frame.lineNumber, frame.columnNumber);
    return module === "?" ? undefined : module;
  }
  if (file.startsWith("src/") || file.startsWith("streams/")) return file.replace(/\.[cm]?[jt]s$/, "");
  return undefined;
}

/** The project's own code (its sources, or its part of the bundle), where a change can cut a cost. */
export function isProjectFrame(frame: CallFrame, root: string): boolean {
  return projectModule(frame, root) !== undefined;
}

/**
 * A frame's name: function and file relative to the checkout (or node's own module) with line and column
 * of the code V8 ran; in the bundle, its module, and an anonymous function's first characters.
 */
export function frameName(frame: CallFrame, root: string): string {
  const { path, file } = frameFile(frame, root);
  let name = `${frame.functionName || "(anonymous)"} ${file || "(native)"}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
  if (file.startsWith("dist/bundle/") && existsSync(path)) {
    name += ` [${bundleModuleAt(path, frame.lineNumber, frame.columnNumber)}]`;
    if (frame.functionName === "") {
      const code =
        bundleText(path).lines[frame.lineNumber]?.slice(frame.columnNumber, frame.columnNumber + 50) ?? "";
      name += ` ${code}`;
    }
  }
  return name;
}
