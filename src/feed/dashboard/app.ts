// The dashboard page: everything live from the event feed of one member (the one that served it, or
// another when that one goes away), plus a raft-and-peers subscription per member, so every member's
// role, term, indexes and the leader's view of its followers show as they move, and a failover shows
// as soon as the new leader reports itself.
// Bundled with its libraries into assets/dashboard.js by `npm run build:dashboard` (no CDN, no build at start-up).
import { skip } from "rxjs";
import uPlot from "uplot";
import { FeedClient } from "../client.js";
import type { AlarmInfo, Bytes, EventOf, FeedEvent, KeyValueProps } from "../protocol.js";
import { ALL_TOPICS } from "../protocol.js";
import { readable } from "./readable.js";

const $ = (id: string) => document.getElementById(id) as HTMLElement;
const text = (b: Bytes) => (typeof b === "string" ? b : `base64:${b.base64}`);
/** What each list was last drawn from: it is redrawn only when that changes (fewer redraws under the pointer). */
const drawn = new WeakMap<HTMLElement, string>();
function setHtml(el: HTMLElement, html: string): void {
  if (drawn.get(el) === html) return;
  drawn.set(el, html);
  el.innerHTML = html;
}
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

const origin = window.location.origin;
/** With auth on: the token this page logged in with (kept for the tab's life), sent with the feed and every request. */
const TOKEN_KEY = "rxetcd-dashboard-token";
const token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
const withToken = token === undefined ? {} : { token };

/** A JSON gateway call, with the token when logged in. */
function call(url: string, path: string, body: object): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    ...(token === undefined ? {} : { headers: { Authorization: token } }),
  });
}
/** The member the page's main feed (keys, charts, leases, log) comes from, and where writes go. */
let feedUrl = origin;
/** Served on a feed-only listener (--listen-feed-urls), the page names its member's client URL: the API is there. */
const apiOrigin = document.querySelector('meta[name="rxetcd-api"]')?.getAttribute("content") ?? "";
/** Where key, lease, auth and leadership requests go: the feed's member, on its client URL. */
function apiUrl(): string {
  return apiOrigin === "" || feedUrl !== origin ? feedUrl : apiOrigin;
}
let members: EventOf<"members"> | undefined;
let leases: Array<{ id: string; ttl: number; remainingTtl: number; keys: number; at: number }> = [];
const keys = new Map<string, { kv: KeyValueProps; flash: number }>();

// ---- charts ------------------------------------------------------------------------------------

const WINDOW = 120;
const series = {
  t: [] as number[],
  puts: [] as number[],
  applies: [] as number[],
  reads: [] as number[],
  apply: [] as number[],
  wal: [] as (number | null)[],
};
function showNewestWhenIdle(u: uPlot): void {
  const n = u.data[0]?.length ?? 0;
  // the pointer on the chart: its values (uPlot puts the cursor at a negative left when it leaves)
  if (n === 0 || (u.cursor.left ?? -1) >= 0) return;
  // pinned to the newest sample every time: a pin to index n-1 stays on that sample as new ones arrive
  if (u.legend.idx !== n - 1) u.setLegend({ idx: n - 1 }, false);
  // a line without a value in the newest sample (no WAL sync that second) shows its last known one
  const rows = u.root.querySelectorAll<HTMLElement>(".u-legend tr.u-series");
  for (let s = 1; s < u.data.length; s++) {
    const values = u.data[s] as ArrayLike<number | null | undefined>;
    if (values[n - 1] != null) continue;
    let i = n - 2;
    while (i >= 0 && values[i] == null) i--;
    const cell = rows[s]?.querySelector<HTMLElement>(".u-value");
    if (cell && i >= 0) cell.textContent = `${Number((values[i] as number).toFixed(3))}`;
  }
}
function chart(el: HTMLElement, title: string, names: string[]): uPlot {
  const width = Math.max(280, el.clientWidth || 400);
  return new uPlot(
    {
      title,
      width,
      height: 150,
      // the second line dashed: puts and applies are often the same, and a solid line would hide the first
      series: [
        {},
        ...names.map((label, i) => ({
          label,
          stroke: ["#0969da", "#1a7f37", "#bf8700"][i],
          width: i === 1 ? 1.5 : 2,
          ...(i === 1 ? { dash: [6, 4] } : {}),
        })),
      ],
      axes: [{}, { size: 50 }],
      // uPlot's legend shows the values under the pointer, "--" without one: show the newest sample then
      hooks: { setLegend: [showNewestWhenIdle] },
    },
    [[], ...names.map(() => [])],
    el,
  );
}
const rates = chart($("rates"), "per second", ["puts", "applies", "reads"]);
const latency = chart($("latency"), "milliseconds", ["apply mean", "WAL fsync p99"]);

function onMetrics(e: EventOf<"metrics">): void {
  series.t.push(e.at / 1000);
  series.puts.push(e.putsPerSec);
  series.applies.push(e.appliesPerSec);
  series.reads.push(e.readsPerSec);
  series.apply.push(e.applyMsMean);
  series.wal.push(e.walFsyncMsP99);
  for (const s of Object.values(series)) if (s.length > WINDOW) s.shift();
  rates.setData([series.t, series.puts, series.applies, series.reads]);
  latency.setData([series.t, series.apply, series.wal as number[]]);
  showNewestWhenIdle(rates);
  showNewestWhenIdle(latency);
  $("sizes").textContent =
    `revision ${e.revision} · ${e.keys} keys · ${e.leases} leases · db ${(e.dbSize / 1024).toFixed(0)} KiB (${(e.dbSizeInUse / 1024).toFixed(0)} in use) · ${e.feedClients} feed clients`;
}

// ---- members ----------------------------------------------------------------------------------

/** What the page knows of one member, from its own feed (raft state, and follower progress when it leads). */
interface MemberView {
  readonly feed: FeedClient;
  connected: boolean;
  raft: EventOf<"raft.state"> | undefined;
  /** When the page received `raft` (to show how fresh a leader change is). */
  raftReceivedAt: number;
  /** When the member saw itself elected (its raft.leader event naming itself). */
  electedAt: number | undefined;
  peers: EventOf<"peers"> | undefined;
}
const views = new Map<string, MemberView>();

/** The leader as the members themselves report it: a reachable member that says it leads, the highest term winning. */
function currentLeader(): { id: string; view: MemberView } | undefined {
  let best: { id: string; view: MemberView } | undefined;
  for (const [id, view] of views) {
    const r = view.raft;
    if (!view.connected || r?.role !== "leader") continue;
    if (!best || r.term > (best.view.raft?.term ?? 0)) best = { id, view };
  }
  return best;
}

function renderMembers(): void {
  if (!members) return;
  $("cluster").textContent = `cluster ${members.clusterId}`;
  const leader = currentLeader();
  const progress = new Map((leader?.view.peers?.peers ?? []).map((p) => [p.id, p]));
  const rows = members.members.map((m) => {
    const view = views.get(m.id);
    const r = view?.connected ? view.raft : undefined;
    const isLeader = leader?.id === m.id;
    const role = view && !view.connected ? "unreachable" : (r?.role ?? "?");
    const p = progress.get(m.id);
    const move =
      leader && !isLeader && view?.connected && !m.isLearner
        ? `<button data-move="${m.id}">make leader</button>`
        : "";
    // how long after the election (or the state's report) the page had it: the failover's visible delay
    const fresh =
      isLeader && view && r
        ? ` data-shown-after-ms="${Math.max(0, view.raftReceivedAt - (view.electedAt ?? r.at))}"`
        : "";
    const name = `${esc(m.name || "(unstarted)")}${m.isLearner ? " <small>learner</small>" : ""}`;
    const h = health.get(m.id) ?? "";
    const healthCell = `<td class="health-${h === "healthy" ? "ok" : "bad"}" data-health="${h}">${h}</td>`;
    return `<tr class="${isLeader ? "leader" : ""}${role === "unreachable" ? " down" : ""}" data-member="${esc(m.name)}" data-id="${m.id}" data-role="${role}"${fresh}><td>${name}</td><td>${m.id}</td><td class="role-${role}">${role}</td><td>${r?.term ?? ""}</td><td>${r?.commitIndex ?? ""}</td><td>${r?.appliedIndex ?? ""}</td><td>${p ? p.match : ""}</td>${healthCell}<td>${move}</td></tr>`;
  });
  setHtml($("members"), rows.join(""));
  const leaderName = leader ? members.members.find((m) => m.id === leader.id)?.name || leader.id : undefined;
  $("leader").textContent = leader ? `leader ${leaderName} · term ${leader.view.raft?.term}` : "no leader";
  $("leader").className = leader ? "leader-badge" : "leader-badge none";
  renderPeers(leader?.view.peers);
}

/** Each member's answer to GET /health, asked every few seconds on its client URL. */
const health = new Map<string, "healthy" | "unhealthy" | "unreachable">();
async function checkHealth(): Promise<void> {
  for (const m of members?.members ?? []) {
    const url = m.id === self && apiOrigin === "" ? origin : m.clientUrls[0];
    if (url === undefined) continue;
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { health?: string };
      health.set(m.id, res.ok && body.health === "true" ? "healthy" : "unhealthy");
    } catch {
      health.set(m.id, "unreachable");
    }
  }
  renderMembers();
}
setInterval(() => void checkHealth(), 3000);

function memberUrl(id: string): string | undefined {
  return members?.members.find((m) => m.id === id)?.clientUrls[0];
}

/** One raft-and-peers subscription per member, on its own client URL (the page's own member too). */
function followMembers(): void {
  if (!members) return;
  for (const m of members.members) {
    const url = m.id === self ? origin : m.clientUrls[0];
    if (views.has(m.id) || url === undefined) continue;
    const feed = new FeedClient(url, {
      subscription: { topics: ["raft", "peers"] },
      transports: ["websocket"],
      ...withToken,
    });
    const view: MemberView = {
      feed,
      connected: false,
      raft: undefined,
      raftReceivedAt: 0,
      electedAt: undefined,
      peers: undefined,
    };
    views.set(m.id, view);
    feed.connected$.pipe(skip(1)).subscribe((up) => {
      view.connected = up;
      if (!up) {
        view.raft = undefined;
        view.peers = undefined;
        view.electedAt = undefined;
      }
      renderMembers();
      if (!up) switchFeedSoon();
    });
    feed.events$.subscribe((e) => {
      if (e.type === "raft.state") {
        view.raft = e;
        view.raftReceivedAt = Date.now();
        renderMembers();
      } else if (e.type === "raft.leader") {
        view.electedAt = e.leader === e.member ? e.at : undefined;
      } else if (e.type === "peers") {
        view.peers = e;
        if (currentLeader()?.view === view) renderMembers();
      }
    });
  }
  // members removed from the cluster: stop following them
  for (const [id, view] of views) {
    if (members.members.some((m) => m.id === id)) continue;
    view.feed.close();
    views.delete(id);
  }
}

/** Makes the member the leader: MoveLeader, asked of the current leader. */
function moveLeader(id: string): void {
  const leader = currentLeader();
  const leaderUrl = (leader && memberUrl(leader.id)) ?? apiUrl();
  void call(leaderUrl, "/v3/maintenance/transfer-leadership", { targetID: BigInt(`0x${id}`).toString() });
}

function renderPeers(e: EventOf<"peers"> | undefined): void {
  setHtml(
    $("peers"),
    (e?.peers ?? [])
      .map(
        (p) =>
          `<tr data-peer="${p.id}"><td>${esc(p.name || p.id)}</td><td>${p.match}</td><td>${p.next}</td><td>${p.state}</td><td>${p.connected ? "yes" : "no"}</td><td>${p.rttMs ?? ""}</td></tr>`,
      )
      .join("") || `<tr><td colspan="6"><i>${e ? "no followers" : "no leader"}</i></td></tr>`,
  );
}

// ---- keys --------------------------------------------------------------------------------------

/** The key being edited in place: the list holds still meanwhile (a redraw would take the editor away). */
let editing: string | undefined;
/** Folders of the tree view the user closed. */
const closedDirs = new Set<string>();

function keyRow(
  k: string,
  kv: KeyValueProps,
  flash: number,
  now: number,
  depth: number,
  label: string,
): string {
  const shown = readable(text(kv.value));
  const fmt = shown.format ? ` <span class="fmt">${shown.format}</span>` : "";
  const lease = kv.lease !== "0" ? ` lease ${kv.lease}` : "";
  return `<div class="${now - flash < 1500 ? "flash" : ""}" data-key="${esc(k)}" data-depth="${depth}" style="padding-left:${depth}em"><a href="#" data-history="${esc(k)}">${esc(label)}</a>${fmt} = <span class="value" data-edit="${esc(k)}" title="click to edit">${esc(shown.text)}</span> <small>rev ${kv.modRevision} v${kv.version}${lease}</small> <button data-delete="${esc(k)}">delete</button></div>`;
}

/** The keys as a tree split on "/": a row per folder (with its key count, click to close), keys under it indented. */
function treeRows(sorted: Array<[string, { kv: KeyValueProps; flash: number }]>, now: number): string[] {
  const counts = new Map<string, number>();
  for (const [k] of sorted) {
    const parts = k.split("/");
    let dir = "";
    for (let i = 0; i < parts.length - 1; i++) {
      dir += `${parts[i]}/`;
      counts.set(dir, (counts.get(dir) ?? 0) + 1);
    }
  }
  const rows: string[] = [];
  const shownDirs = new Set<string>();
  for (const [k, { kv, flash }] of sorted) {
    const parts = k.split("/");
    let dir = "";
    let hidden = false;
    for (let i = 0; i < parts.length - 1; i++) {
      dir += `${parts[i]}/`;
      // keys sharing a folder sort next to each other: each folder row comes once, before its keys
      if (!hidden && !shownDirs.has(dir)) {
        shownDirs.add(dir);
        const closed = closedDirs.has(dir);
        const n = counts.get(dir) ?? 0;
        rows.push(
          `<div class="dir" data-dir="${esc(dir)}" data-depth="${i}" style="padding-left:${i}em"><a href="#" data-toggle-dir="${esc(dir)}">${closed ? "▸" : "▾"} ${esc(parts[i])}/</a> <small>${n} key${n === 1 ? "" : "s"}</small></div>`,
        );
      }
      if (closedDirs.has(dir)) hidden = true;
    }
    if (!hidden) rows.push(keyRow(k, kv, flash, now, parts.length - 1, parts[parts.length - 1] || k));
  }
  return rows;
}

function renderKeys(): void {
  if (editing !== undefined) return;
  const tree = ($("tree") as HTMLInputElement).checked;
  const now = Date.now();
  const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rows = tree
    ? treeRows(sorted, now)
    : sorted.map(([k, { kv, flash }]) => keyRow(k, kv, flash, now, 0, k));
  setHtml($("keys"), rows.join("") || "<i>no keys</i>");
}
$("tree").addEventListener("change", renderKeys);

/** Opens an editor in place of a key's value; save puts the new value (keeping the key's lease). */
function editValue(key: string): void {
  const rows = Array.from($("keys").querySelectorAll<HTMLElement>("[data-key]"));
  const row = rows.find((el) => el.dataset.key === key);
  const current = keys.get(key)?.kv;
  const span = row?.querySelector<HTMLElement>(".value");
  if (!row || !current || !span || editing !== undefined) return;
  editing = key;
  const area = document.createElement("textarea");
  area.value = text(current.value);
  area.rows = Math.min(12, Math.max(2, area.value.split("\n").length));
  const save = document.createElement("button");
  save.textContent = "save";
  save.className = "save";
  const cancel = document.createElement("button");
  cancel.textContent = "cancel";
  const status = document.createElement("span");
  status.className = "edit-status";
  const editor = document.createElement("div");
  editor.className = "editor";
  editor.append(area, save, " ", cancel, " ", status);
  span.replaceWith(editor);
  area.focus();
  const close = () => {
    editing = undefined;
    drawn.delete($("keys"));
    renderKeys();
  };
  cancel.addEventListener("click", (ev) => {
    ev.preventDefault();
    close();
  });
  area.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") close();
  });
  save.addEventListener("click", (ev) => {
    ev.preventDefault();
    save.disabled = true;
    void ask("/v3/kv/put", { key: b64(key), value: b64(area.value), ignore_lease: true }).then(
      close,
      (err) => {
        save.disabled = false;
        status.className = "edit-status error";
        status.textContent = (err as Error).message;
      },
    );
  });
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const unb64 = (s: string) => new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));

/** Shows how an action went: the member's error text in red, or what was done. */
function report(el: HTMLElement, outcome: { ok: string } | { error: unknown }): void {
  el.className = "ok" in outcome ? "ok" : "error";
  el.textContent = "ok" in outcome ? outcome.ok : (outcome.error as Error).message;
}

/** A lease id as the gateway takes it (a decimal int64) from the feed's hex. */
const leaseParam = (hex: string) => BigInt(`0x${hex}`).toString();

$("put-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = ($("put-key") as HTMLInputElement).value;
  const value = ($("put-value") as HTMLInputElement).value;
  const choice = ($("put-lease") as HTMLSelectElement).value;
  const ttl = Number(($("put-ttl") as HTMLInputElement).value);
  const status = $("put-status");
  void (async () => {
    let lease: string | undefined;
    if (choice === "ttl") {
      const granted = await ask<{ ID: string }>("/v3/lease/grant", { TTL: ttl });
      lease = granted.ID;
    } else if (choice !== "") lease = leaseParam(choice);
    await ask("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
    return lease === undefined ? `put ${key}` : `put ${key} with lease ${BigInt(lease).toString(16)}`;
  })().then(
    (ok) => report(status, { ok }),
    (error) => report(status, { error }),
  );
});

/** The put form's lease choices follow the lease list (the choice made is kept while its lease lives). */
function renderLeaseChoices(): void {
  const select = $("put-lease") as HTMLSelectElement;
  const ids = leases.map((l) => l.id).sort();
  const html = `<option value="">no lease</option><option value="ttl">new lease, TTL</option>${ids.map((id) => `<option value="${id}">lease ${id}</option>`).join("")}`;
  if (drawn.get(select) === html) return;
  const chosen = select.value;
  setHtml(select, html);
  select.value = chosen === "" || chosen === "ttl" || ids.includes(chosen) ? chosen : "";
}

/** The end of the range of keys starting with `prefix` (etcd's prefix end: the last byte below 0xff plus one). */
function prefixEnd(prefix: string): string {
  const bytes = new TextEncoder().encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      return btoa(String.fromCharCode(...end));
    }
  }
  return btoa("\0"); // every key
}

/** One key of an export: its name and value as text. */
interface ExportedKey {
  key: string;
  value: string;
}

/** Every key under the watched prefix with its value, as a JSON file the browser downloads. */
async function exportPrefix(): Promise<void> {
  const res = await call(apiUrl(), "/v3/kv/range", {
    key: b64(prefix || "\0"),
    range_end: prefixEnd(prefix),
  });
  const body = (await res.json()) as { kvs?: Array<{ key: string; value?: string }>; message?: string };
  if (!res.ok) {
    $("transfer-status").textContent = `export: ${body.message ?? res.status}`;
    return;
  }
  const out: ExportedKey[] = (body.kvs ?? []).map((kv) => ({
    key: unb64(kv.key),
    value: unb64(kv.value ?? ""),
  }));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(out, null, 1)], { type: "application/json" }));
  link.download = `${(prefix || "all").replace(/[^A-Za-z0-9._-]+/g, "_")}.json`;
  link.click();
  $("transfer-status").textContent = `exported ${out.length} keys`;
}

/** Puts the keys of an exported file, in transactions of at most 128 puts (etcd's --max-txn-ops default). */
async function importFile(file: File): Promise<void> {
  let keysIn: ExportedKey[];
  try {
    const parsed = JSON.parse(await file.text()) as unknown;
    if (
      !Array.isArray(parsed) ||
      !parsed.every((x) => typeof x?.key === "string" && typeof x?.value === "string")
    )
      throw new Error('expected a list of { "key": ..., "value": ... }');
    keysIn = parsed as ExportedKey[];
  } catch (err) {
    $("transfer-status").textContent = `import: ${(err as Error).message}`;
    return;
  }
  for (let i = 0; i < keysIn.length; i += 128) {
    const success = keysIn
      .slice(i, i + 128)
      .map((kv) => ({ request_put: { key: b64(kv.key), value: b64(kv.value) } }));
    const res = await call(apiUrl(), "/v3/kv/txn", { success });
    if (!res.ok) {
      const body = (await res.json()) as { message?: string };
      $("transfer-status").textContent = `import stopped after ${i} keys: ${body.message ?? res.status}`;
      return;
    }
  }
  $("transfer-status").textContent = `imported ${keysIn.length} keys`;
}

$("export").addEventListener("click", () => void exportPrefix());
$("import").addEventListener("change", (ev) => {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  if (file) void importFile(file).finally(() => (input.value = ""));
});

/** A key's versions from its creation on, with a line diff between neighbours. */
async function showHistory(key: string): Promise<void> {
  const current = keys.get(key)?.kv;
  if (!current) return;
  const lines: string[] = [];
  let prev: string | undefined;
  for (let rev = current.createRevision; rev <= current.modRevision; rev++) {
    const res = await call(apiUrl(), "/v3/kv/range", { key: b64(key), revision: rev });
    const body = (await res.json()) as { kvs?: Array<{ value?: string; mod_revision?: string }> };
    const kv = body.kvs?.[0];
    if (!kv || Number(kv.mod_revision) !== rev) continue;
    const value = unb64(kv.value ?? "");
    lines.push(`rev ${rev}: ${prev === undefined ? value : diff(prev, value)}`);
    prev = value;
  }
  $("history").textContent = `${key}\n${lines.join("\n")}`;
}

function diff(a: string, b: string): string {
  const al = a.split("\n");
  const bl = b.split("\n");
  const out: string[] = [];
  for (let i = 0; i < Math.max(al.length, bl.length); i++) {
    if (al[i] === bl[i]) continue;
    if (al[i] !== undefined) out.push(`- ${al[i]}`);
    if (bl[i] !== undefined) out.push(`+ ${bl[i]}`);
  }
  return out.length ? `\n${out.join("\n")}` : "(same value)";
}

// ---- leases ------------------------------------------------------------------------------------

function renderLeases(): void {
  renderLeaseChoices();
  const now = Date.now();
  $("leases").innerHTML = leases
    .map((l) => {
      const left = Math.max(0, l.remainingTtl - Math.floor((now - l.at) / 1000));
      return `<tr data-lease="${l.id}"><td>${l.id}</td><td>${left}s</td><td>${l.ttl}s</td><td><a href="#" data-lease-keys="${l.id}">${l.keys} key${l.keys === 1 ? "" : "s"}</a></td></tr>`;
    })
    .join("");
}
setInterval(renderLeases, 1000);

/** The keys attached to a lease, from its time-to-live with keys. */
async function showLeaseKeys(id: string): Promise<void> {
  const res = await call(apiUrl(), "/v3/lease/timetolive", { ID: BigInt(`0x${id}`).toString(), keys: true });
  const body = (await res.json()) as { keys?: string[]; TTL?: string; message?: string };
  const keysOf = (body.keys ?? []).map(unb64);
  $("lease-keys").textContent = res.ok
    ? `lease ${id} (TTL ${body.TTL}s): ${keysOf.length ? keysOf.join(", ") : "no keys"}`
    : `lease ${id}: ${body.message ?? res.status}`;
}

// ---- actions in the live lists ----------------------------------------------------------------------

/** The action a list element stands for (the lists are redrawn as the feed moves: elements come and go). */
function act(el: HTMLElement): boolean {
  const d = el.dataset;
  if (d.move !== undefined) moveLeader(d.move);
  else if (d.delete !== undefined) void call(apiUrl(), "/v3/kv/deleterange", { key: b64(d.delete) });
  else if (d.history !== undefined) void showHistory(d.history);
  else if (d.leaseKeys !== undefined) void showLeaseKeys(d.leaseKeys);
  else if (d.edit !== undefined) editValue(d.edit);
  else if (d.toggleDir !== undefined) toggleDir(d.toggleDir);
  else if (d.deleteUser !== undefined)
    authAction(`deleted user ${d.deleteUser}`, "/v3/auth/user/delete", { name: d.deleteUser });
  else if (d.deleteRole !== undefined)
    authAction(`deleted role ${d.deleteRole}`, "/v3/auth/role/delete", { role: d.deleteRole });
  else return false;
  return true;
}
const ACTIONS =
  "[data-move],[data-delete],[data-history],[data-lease-keys],[data-edit],[data-toggle-dir],[data-delete-user],[data-delete-role]";

function toggleDir(dir: string): void {
  if (!closedDirs.delete(dir)) closedDirs.add(dir);
  renderKeys();
}
// A press acts at once: a list redrawn between press and release would lose a click. Keyboard clicks
// (detail 0) act on click; mouse clicks on links only must not follow them.
document.addEventListener("pointerdown", (ev) => {
  const el = (ev.target as HTMLElement).closest(ACTIONS) as HTMLElement | null;
  if (el && ev.button === 0 && act(el)) ev.preventDefault();
});
document.addEventListener("click", (ev) => {
  const el = (ev.target as HTMLElement).closest(ACTIONS) as HTMLElement | null;
  if (!el) return;
  ev.preventDefault();
  if (ev.detail === 0) act(el);
});

// ---- users and roles ----------------------------------------------------------------------------

/** A gateway answer's JSON, or the member's error text. */
async function ask<T>(path: string, body: object): Promise<T> {
  const res = await call(apiUrl(), path, body);
  const json = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(json.message ?? `HTTP ${res.status}`);
  return json;
}

const PERM = ["read", "write", "readwrite"];
/** Users with their roles, roles with their permissions (auth needs root for this). */
async function showAuth(): Promise<void> {
  try {
    const users = (await ask<{ users?: string[] }>("/v3/auth/user/list", {})).users ?? [];
    const roles = (await ask<{ roles?: string[] }>("/v3/auth/role/list", {})).roles ?? [];
    const userRows = await Promise.all(
      users.map(async (name) => {
        const r = (await ask<{ roles?: string[] }>("/v3/auth/user/get", { name })).roles ?? [];
        return `<tr data-user="${esc(name)}"><td>${esc(name)}</td><td>${esc(r.join(", "))}</td><td><button data-delete-user="${esc(name)}">delete</button></td></tr>`;
      }),
    );
    const roleRows = await Promise.all(
      roles.map(async (role) => {
        const perms =
          (
            await ask<{ perm?: Array<{ permType?: string | number; key?: string; range_end?: string }> }>(
              "/v3/auth/role/get",
              { role },
            )
          ).perm ?? [];
        const text = perms
          .map((p) => {
            const type = typeof p.permType === "number" ? PERM[p.permType] : (p.permType ?? "READ");
            const key = unb64(p.key ?? "");
            const end = p.range_end ? unb64(p.range_end) : "";
            const range = end === "" ? key : end === "\0" ? `${key} and after` : `[${key}, ${end})`;
            return `${String(type).toLowerCase()} ${range}`;
          })
          .join("; ");
        return `<tr data-role="${esc(role)}"><td>${esc(role)}</td><td>${esc(text)}</td><td><button data-delete-role="${esc(role)}">delete</button></td></tr>`;
      }),
    );
    $("auth").innerHTML =
      `<table><thead><tr><th>user</th><th>roles</th><th></th></tr></thead><tbody>${userRows.join("") || '<tr><td colspan="3"><i>no users</i></td></tr>'}</tbody></table>` +
      `<table><thead><tr><th>role</th><th>permissions</th><th></th></tr></thead><tbody>${roleRows.join("") || '<tr><td colspan="3"><i>no roles</i></td></tr>'}</tbody></table>`;
  } catch (err) {
    $("auth").textContent = `users and roles: ${(err as Error).message}`;
  }
}
$("auth-refresh").addEventListener("click", () => void showAuth());

/** An auth change through the gateway: the member's error (etcd's text) or what was done shows, then the lists. */
function authAction(done: string, path: string, body: object): void {
  void ask(path, body).then(
    () => {
      report($("auth-status"), { ok: done });
      return showAuth();
    },
    (error) => report($("auth-status"), { error }),
  );
}
const field = (id: string) => ($(id) as HTMLInputElement).value;
/** Which of a form's two buttons sent it ("grant" or "revoke"). */
const submitter = (ev: Event) => ((ev as SubmitEvent).submitter as HTMLButtonElement | null)?.value;

$("user-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = field("user-name");
  authAction(`added user ${name}`, "/v3/auth/user/add", { name, password: field("user-password") });
});
$("role-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = field("role-name");
  authAction(`added role ${name}`, "/v3/auth/role/add", { name });
});
$("user-role-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = field("ur-user");
  const role = field("ur-role");
  if (submitter(ev) === "revoke")
    authAction(`revoked role ${role} from ${user}`, "/v3/auth/user/revoke", { name: user, role });
  else authAction(`granted role ${role} to ${user}`, "/v3/auth/user/grant", { user, role });
});
$("perm-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const role = field("perm-role");
  const key = field("perm-key");
  const prefixed = ($("perm-prefix") as HTMLInputElement).checked;
  // etcd's permission range: one key, or [key, prefix end) for a prefix ("\0" end: every key from key on)
  const range = {
    key: b64(key || (prefixed ? "\0" : "")),
    ...(prefixed ? { range_end: prefixEnd(key) } : {}),
  };
  const what = `${prefixed ? "prefix " : ""}${key || (prefixed ? "(every key)" : "")}`;
  if (submitter(ev) === "revoke")
    authAction(`revoked ${what} from ${role}`, "/v3/auth/role/revoke", { role, ...range });
  else {
    const permType = field("perm-type");
    authAction(`granted ${permType.toLowerCase()} ${what} to ${role}`, "/v3/auth/role/grant", {
      name: role,
      perm: { permType, ...range },
    });
  }
});
setInterval(renderKeys, 1000);

// ---- the log -----------------------------------------------------------------------------------

const QUIET = new Set([
  "raft.ready",
  "metrics",
  "peers",
  "raft.state",
  "members",
  "lease.list",
  "alarm.list",
  "kv.snapshot",
]);
/** An apply window's summary in words (a member of protocol 1 sends only the newest entry: shown as JSON). */
function applySummary(e: EventOf<"apply">): string | undefined {
  if (e.entries === undefined || e.firstIndex === undefined) return undefined;
  const kinds = Object.entries(e.kinds ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const range = e.entries === 1 ? `#${e.index}` : `#${e.firstIndex}–${e.index}`;
  return `${e.entries} applied ${range} (${kinds}) in ${e.batches} batches, max ${e.durationMsMax} ms, mean ${e.durationMsMean} ms, revision ${e.revision}`;
}
function log(e: FeedEvent): void {
  if (QUIET.has(e.type)) return;
  const li = document.createElement("li");
  const { type, at, member: _m, ...rest } = e as FeedEvent & Record<string, unknown>;
  const text = (e.type === "apply" ? applySummary(e) : undefined) ?? JSON.stringify(rest).slice(0, 160);
  li.textContent = `${new Date(at).toISOString().slice(11, 23)} ${type} ${text}`;
  const list = $("log");
  list.prepend(li);
  while (list.childElementCount > 200) list.lastElementChild?.remove();
}

// ---- the feed ------------------------------------------------------------------------------------

let self = "";
let feed: FeedClient | undefined;
let prefix = "";
let switchTimer: ReturnType<typeof setTimeout> | undefined;

function connect(url: string): void {
  feed?.close();
  keys.clear();
  feedUrl = url;
  const c = new FeedClient(url, {
    subscription: { topics: [...ALL_TOPICS], keys: [{ key: prefix, prefix: true }] },
    ...withToken,
  });
  feed = c;
  const status = $("status");
  const via = url === origin ? "" : ` via ${new URL(url).host}`;
  c.connected$.pipe(skip(1)).subscribe((up) => {
    status.textContent = up ? `live${via}` : "disconnected";
    status.className = up ? "status live" : "status";
    if (!up) switchFeedSoon();
  });
  c.errors$.subscribe((e) => {
    status.textContent = `feed error: ${e.message}`;
    // auth is on and this page has no (valid) token: ask for a user
    if (/user name is empty|invalid auth token|authentication failed/.test(e.message))
      $("login").hidden = false;
  });
  c.events$.subscribe(onEvent);
}

/** The main feed's member went away: after a moment, take the feed from a member still reachable. */
function switchFeedSoon(): void {
  if (switchTimer !== undefined || feed?.connected$.value) return;
  switchTimer = setTimeout(() => {
    switchTimer = undefined;
    if (feed?.connected$.value) return;
    const leader = currentLeader();
    const candidates = [...views].filter(([, v]) => v.connected).map(([id]) => id);
    const pick = leader?.id ?? candidates[0];
    const url = pick === undefined ? undefined : pick === self ? origin : memberUrl(pick);
    if (url !== undefined && url !== feedUrl) connect(url);
    else switchFeedSoon();
  }, 1500);
}

/** The alarms in force, from the feed's list and the alarms raised or cleared since. */
let alarms: AlarmInfo[] = [];
function renderAlarms(): void {
  $("alarms").innerHTML = alarms
    .map((a) => `<p class="alarm">alarm ${esc(a.alarm)} on ${esc(a.memberId)}</p>`)
    .join("");
}

function onEvent(e: FeedEvent): void {
  log(e);
  switch (e.type) {
    case "raft.state":
      if (feedUrl === origin) self = e.member;
      break;
    case "members":
      members = e;
      followMembers();
      renderMembers();
      if (health.size === 0) void checkHealth();
      break;
    case "metrics":
      onMetrics(e);
      break;
    case "kv.snapshot":
      for (const kv of e.kvs) keys.set(text(kv.key), { kv, flash: 0 });
      renderKeys();
      break;
    case "kv":
      if (e.kind === "delete") keys.delete(text(e.key));
      else keys.set(text(e.key), { kv: e, flash: Date.now() });
      renderKeys();
      break;
    case "lease.list":
      leases = e.leases.map((l) => ({ ...l, at: e.at }));
      renderLeases();
      break;
    case "lease": {
      leases = leases.filter((l) => l.id !== e.id);
      if (e.action !== "revoke" && e.action !== "expire")
        leases.push({ id: e.id, ttl: e.ttl, remainingTtl: e.remainingTtl, keys: 0, at: e.at });
      renderLeases();
      break;
    }
    case "alarm.list":
      alarms = e.alarms;
      renderAlarms();
      break;
    case "alarm":
      // raised or cleared since the list: keep the list in step
      alarms = alarms.filter((a) => !(a.memberId === e.memberId && a.alarm === e.alarm));
      if (e.action === "activate") alarms.push({ memberId: e.memberId, alarm: e.alarm });
      renderAlarms();
      break;
    default:
      break;
  }
}

// ---- auth ----------------------------------------------------------------------------------------

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = ($("login-user") as HTMLInputElement).value;
  const password = ($("login-password") as HTMLInputElement).value;
  void fetch(`${apiUrl()}/v3/auth/authenticate`, { method: "POST", body: JSON.stringify({ name, password }) })
    .then((res) => res.json() as Promise<{ token?: string; message?: string }>)
    .then((body) => {
      if (!body.token) {
        $("status").textContent = `log in: ${body.message ?? "refused"}`;
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, body.token);
      window.location.reload();
    });
});
if (token !== undefined) {
  $("logout").hidden = false;
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    window.location.reload();
  });
}

$("watch-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  prefix = ($("prefix") as HTMLInputElement).value;
  connect(feedUrl);
});
connect(origin);
void showAuth();
