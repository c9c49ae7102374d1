// Run by generate.sh after `buf generate`: every bytes field the generated code leaves at its default
// gets one shared, frozen empty Buffer instead of a Buffer.alloc(0) of its own. ts-proto has no option
// for this, and a decoded or created message would otherwise allocate an empty Buffer (and its
// ArrayBuffer) per default bytes field: about 700 bytes of garbage per put. A zero-length buffer has
// nothing to write to, and frozen it takes no properties either, so sharing it is safe.
//   node proto/shared-empty-bytes.js DIR
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ALLOC = "Buffer.alloc(0)";
const ANCHOR = "export const protobufPackage = ";
const DECLARATION = [
  "/** Every default bytes field: one shared empty buffer (frozen; see proto/shared-empty-bytes.js). */",
  "const emptyBytes: Buffer = Object.freeze(Buffer.alloc(0)) as Buffer;",
  "",
  "",
].join("\n");

function rewrite(file) {
  const text = readFileSync(file, "utf8");
  if (!text.includes(ALLOC)) return;
  const at = text.indexOf(ANCHOR);
  if (at < 0) throw new Error(`${file}: no "${ANCHOR}" line to declare the shared empty buffer before`);
  const body = text.slice(at).split(ALLOC).join("emptyBytes");
  writeFileSync(file, text.slice(0, at) + DECLARATION + body);
}

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".ts")) rewrite(path);
  }
}

const dir = process.argv[2];
if (dir === undefined) {
  console.error("usage: node proto/shared-empty-bytes.js DIR");
  process.exit(2);
}
walk(dir);
