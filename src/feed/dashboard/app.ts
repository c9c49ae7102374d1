// The dashboard page: everything live from the event feed of one member (the one that served it, or
// another when that one goes away), plus a raft-and-peers subscription per member, so every member's
// role, term, indexes and the leader's view of its followers show as they move, and a failover shows
// as soon as the new leader reports itself.
// Bundled with its libraries into assets/dashboard.js by `npm run build:dashboard` (no CDN, no build at start-up).
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
function chart(el: HTMLElement, title: string, names: string[]): uPlot {
  const width = Math.max(280, el.clientWidth || 400);
  return new uPlot(
    {
      title,
      width,
      height: 150,
      series: [{}, ...names.map((label, i) => ({ label, stroke: ["#0969da", "#1a7f37", "#bf8700"][i] }))],
      axes: [{}, { size: 50 }],
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
    feed.socket.on("connect", () => {
      view.connected = true;
      renderMembers();
    });
    feed.socket.on("disconnect", () => {
      view.connected = false;
      view.raft = undefined;
      view.peers = undefined;
      view.electedAt = undefined;
      renderMembers();
      switchFeedSoon();
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
          `<tr><td>${esc(p.name || p.id)}</td><td>${p.match}</td><td>${p.next}</td><td>${p.state}</td><td>${p.connected ? "yes" : "no"}</td><td>${p.rttMs ?? ""}</td></tr>`,
      )
      .join(""),
  );
}

// ---- keys --------------------------------------------------------------------------------------

function renderKeys(): void {
  const tree = ($("tree") as HTMLInputElement).checked;
  const now = Date.now();
  const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rows = sorted.map(([k, { kv, flash }]) => {
    const depth = tree ? k.split("/").length - 1 : 0;
    const label = tree ? k.split("/").pop() || k : k;
    const shown = readable(text(kv.value));
    const fmt = shown.format ? ` <span class="fmt">${shown.format}</span>` : "";
    return `<div class="${now - flash < 1500 ? "flash" : ""}" data-key="${esc(k)}" style="padding-left:${depth}em"><a href="#" data-history="${esc(k)}">${esc(label)}</a>${fmt} = <span class="value">${esc(shown.text)}</span> <small>rev ${kv.modRevision} v${kv.version}</small> <button data-delete="${esc(k)}">delete</button></div>`;
  });
  setHtml($("keys"), rows.join("") || "<i>no keys</i>");
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const unb64 = (s: string) => new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));

$("put-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = ($("put-key") as HTMLInputElement).value;
  const value = ($("put-value") as HTMLInputElement).value;
  void call(apiUrl(), "/v3/kv/put", { key: b64(key), value: b64(value) });
});

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
  else return false;
  return true;
}
const ACTIONS = "[data-move],[data-delete],[data-history],[data-lease-keys]";
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
        return `<tr data-user="${esc(name)}"><td>${esc(name)}</td><td>${esc(r.join(", "))}</td></tr>`;
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
        return `<tr data-role="${esc(role)}"><td>${esc(role)}</td><td>${esc(text)}</td></tr>`;
      }),
    );
    $("auth").innerHTML =
      `<table><thead><tr><th>user</th><th>roles</th></tr></thead><tbody>${userRows.join("") || '<tr><td colspan="2"><i>no users</i></td></tr>'}</tbody></table>` +
      `<table><thead><tr><th>role</th><th>permissions</th></tr></thead><tbody>${roleRows.join("") || '<tr><td colspan="2"><i>no roles</i></td></tr>'}</tbody></table>`;
  } catch (err) {
    $("auth").textContent = `users and roles: ${(err as Error).message}`;
  }
}
$("auth-refresh").addEventListener("click", () => void showAuth());
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
function log(e: FeedEvent): void {
  if (QUIET.has(e.type)) return;
  const li = document.createElement("li");
  const { type, at, member: _m, ...rest } = e as FeedEvent & Record<string, unknown>;
  li.textContent = `${new Date(at).toISOString().slice(11, 23)} ${type} ${JSON.stringify(rest).slice(0, 160)}`;
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
  c.socket.on("connect", () => {
    status.textContent = `live${via}`;
    status.className = "status live";
  });
  c.socket.on("disconnect", () => {
    status.textContent = "disconnected";
    status.className = "status";
    switchFeedSoon();
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
  if (switchTimer !== undefined || feed?.socket.connected) return;
  switchTimer = setTimeout(() => {
    switchTimer = undefined;
    if (feed?.socket.connected) return;
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
