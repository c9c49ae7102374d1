// The dashboard page: everything live from the event feed of the member that served it, plus one
// raft-state subscription per other member (so each member's role, term and indexes show as they move).
// Bundled with its libraries into assets/dashboard.js by `npm run build:dashboard` (no CDN, no build at start-up).
import uPlot from "uplot";
import { FeedClient } from "../client.js";
import type { Bytes, EventOf, FeedEvent, KeyValueProps } from "../protocol.js";
import { ALL_TOPICS } from "../protocol.js";

const $ = (id: string) => document.getElementById(id) as HTMLElement;
const text = (b: Bytes) => (typeof b === "string" ? b : `base64:${b.base64}`);
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

const origin = window.location.origin;
const raftByMember = new Map<string, EventOf<"raft.state">>();
const memberFeeds = new Map<string, FeedClient>();
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

// ---- members -----------------------------------------------------------------------------------

function renderMembers(): void {
  if (!members) return;
  $("cluster").textContent = `cluster ${members.clusterId}`;
  const rows = members.members.map((m) => {
    const r = raftByMember.get(m.id);
    const leader = r?.role === "leader";
    const move =
      r && !leader && [...raftByMember.values()].some((x) => x.role === "leader")
        ? `<button data-move="${m.id}">make leader</button>`
        : "";
    return `<tr class="${leader ? "leader" : ""}" data-member="${esc(m.name)}"><td>${esc(m.name)}</td><td>${m.id}</td><td class="role-${r?.role ?? ""}">${r?.role ?? "?"}</td><td>${r?.term ?? ""}</td><td>${r?.leader ?? ""}</td><td>${r?.commitIndex ?? ""}</td><td>${r?.appliedIndex ?? ""}</td><td>${move}</td></tr>`;
  });
  $("members").innerHTML = rows.join("");
}

/** One raft-state subscription per other member, on its own client URL. */
function followMembers(): void {
  if (!members) return;
  for (const m of members.members) {
    if (memberFeeds.has(m.id) || m.id === self || m.clientUrls.length === 0) continue;
    const c = new FeedClient(m.clientUrls[0], {
      subscription: { topics: ["raft"] },
      transports: ["websocket"],
    });
    memberFeeds.set(m.id, c);
    c.events$.subscribe((e) => {
      if (e.type === "raft.state") {
        raftByMember.set(e.member, e);
        renderMembers();
      }
    });
  }
}

document.addEventListener("click", (ev) => {
  const target = (ev.target as HTMLElement).closest("button[data-move]") as HTMLElement | null;
  if (!target) return;
  const leaderId = [...raftByMember.values()].find((r) => r.role === "leader")?.member;
  const leaderUrl = members?.members.find((m) => m.id === leaderId)?.clientUrls[0] ?? origin;
  void fetch(`${leaderUrl}/v3/maintenance/transfer-leadership`, {
    method: "POST",
    body: JSON.stringify({ targetID: BigInt(`0x${target.dataset.move}`).toString() }),
  });
});

function renderPeers(e: EventOf<"peers">): void {
  $("peers").innerHTML = e.peers
    .map(
      (p) =>
        `<tr><td>${esc(p.name || p.id)}</td><td>${p.match}</td><td>${p.next}</td><td>${p.state}</td><td>${p.connected ? "yes" : "no"}</td><td>${p.rttMs ?? ""}</td></tr>`,
    )
    .join("");
}

// ---- keys --------------------------------------------------------------------------------------

function renderKeys(): void {
  const tree = ($("tree") as HTMLInputElement).checked;
  const now = Date.now();
  const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rows = sorted.map(([k, { kv, flash }]) => {
    const depth = tree ? k.split("/").length - 1 : 0;
    const label = tree ? k.split("/").pop() || k : k;
    return `<div class="${now - flash < 1500 ? "flash" : ""}" data-key="${esc(k)}" style="padding-left:${depth}em"><a href="#" data-history="${esc(k)}">${esc(label)}</a> = <span class="value">${esc(pretty(text(kv.value)))}</span> <small>rev ${kv.modRevision} v${kv.version}</small> <button data-delete="${esc(k)}">delete</button></div>`;
  });
  $("keys").innerHTML = rows.join("") || "<i>no keys</i>";
}

/** JSON shown indented; anything else as it is. */
function pretty(v: string): string {
  const t = v.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.stringify(JSON.parse(t), null, 1);
    } catch {
      return v;
    }
  }
  return v;
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const unb64 = (s: string) => new TextDecoder().decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)));

$("put-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = ($("put-key") as HTMLInputElement).value;
  const value = ($("put-value") as HTMLInputElement).value;
  void fetch(`${origin}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
});

document.addEventListener("click", (ev) => {
  const el = ev.target as HTMLElement;
  const del = el.dataset?.delete;
  if (del !== undefined) {
    void fetch(`${origin}/v3/kv/deleterange`, { method: "POST", body: JSON.stringify({ key: b64(del) }) });
  }
  const hist = el.dataset?.history;
  if (hist !== undefined) {
    ev.preventDefault();
    void showHistory(hist);
  }
});

/** A key's versions from its creation on, with a line diff between neighbours. */
async function showHistory(key: string): Promise<void> {
  const current = keys.get(key)?.kv;
  if (!current) return;
  const lines: string[] = [];
  let prev: string | undefined;
  for (let rev = current.createRevision; rev <= current.modRevision; rev++) {
    const res = await fetch(`${origin}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: b64(key), revision: rev }),
    });
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
      return `<tr><td>${l.id}</td><td>${left}s</td><td>${l.ttl}s</td><td>${l.keys}</td></tr>`;
    })
    .join("");
}
setInterval(renderLeases, 1000);
setInterval(renderKeys, 1000);

// ---- the log -----------------------------------------------------------------------------------

const QUIET = new Set([
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
let feed: FeedClient;
function connect(prefix: string): void {
  feed?.close();
  keys.clear();
  feed = new FeedClient(origin, {
    subscription: { topics: [...ALL_TOPICS], keys: [{ key: prefix, prefix: true }] },
  });
  feed.socket.on("connect", () => {
    $("status").textContent = "live";
    $("status").className = "status live";
  });
  feed.socket.on("disconnect", () => {
    $("status").textContent = "disconnected";
    $("status").className = "status";
  });
  feed.errors$.subscribe((e) => {
    $("status").textContent = `feed error: ${e.message}`;
  });
  feed.events$.subscribe(onEvent);
}

function onEvent(e: FeedEvent): void {
  log(e);
  switch (e.type) {
    case "raft.state":
      self = e.member;
      raftByMember.set(e.member, e);
      renderMembers();
      break;
    case "members":
      members = e;
      followMembers();
      renderMembers();
      break;
    case "peers":
      renderPeers(e);
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
      $("alarms").innerHTML = e.alarms
        .map((a) => `<p class="alarm">alarm ${a.alarm} on ${a.memberId}</p>`)
        .join("");
      break;
    default:
      break;
  }
}

$("watch-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  connect(($("prefix") as HTMLInputElement).value);
});
connect("");
