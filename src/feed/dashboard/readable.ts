// How the dashboard shows a value: JSON indented, YAML on its own lines, each marked with its format.

/** A value as the page shows it: JSON indented, YAML (a document of `key: value` lines) on its own lines. */
export function readable(v: string): { text: string; format: "json" | "yaml" | undefined } {
  const t = v.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return { text: JSON.stringify(JSON.parse(t), null, 1), format: "json" };
    } catch {
      return { text: v, format: undefined };
    }
  }
  const lines = t.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  const yamlLine = /^(---|\s*- |\s*[^\s:][^:]*:(\s|$))/;
  if ((t.startsWith("---") || lines.length > 1) && lines.every((l) => yamlLine.test(l)))
    return { text: `\n${t.replace(/^---\n?/, "")}`, format: "yaml" };
  return { text: v, format: undefined };
}
