// `rxetcd feed`: tails a member's event feed in a terminal, one readable line per event.
import { readFileSync } from "node:fs";
import { isLeft } from "fp-ts/lib/Either.js";
import { FeedClient } from "../feed/client.js";
import { ALL_TOPICS, type FeedEvent, type Subscription, Topic } from "../feed/protocol.js";

const USAGE = `usage: rxetcd feed [--endpoint URL] [--topics t1,t2,...] [--prefix P] [--token T]
                  [--cacert FILE] [--cert FILE --key FILE]

Tails the socket.io event feed of a member (default endpoint http://127.0.0.1:2379).
Topics: ${ALL_TOPICS.join(", ")} (default: all). --prefix P watches the keys under P.
With auth on, --token (from an Authenticate call) or a client certificate (--cert/--key, whose
Common Name is the user, with --client-cert-auth) names the user; --cacert trusts an https member.
`;

/** PEM texts for an https member: the CA to trust, a client certificate. */
export interface TailTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface TailIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** One line for an event: time, type, then its fields as key=value. */
export function formatEvent(e: FeedEvent): string {
  const { type, at, member, ...rest } = e as FeedEvent & Record<string, unknown>;
  const fields = Object.entries(rest).map(
    ([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`,
  );
  return `${new Date(at).toISOString().slice(11, 23)} ${member} ${type} ${fields.join(" ")}`;
}

/** Parses the arguments; a string is the error to print. */
export function parseTailArgs(
  args: string[],
): { endpoint: string; subscription: Subscription; token?: string; tls?: TailTls } | string {
  let endpoint = "http://127.0.0.1:2379";
  let topics: string[] = [...ALL_TOPICS];
  let prefix: string | undefined;
  let token: string | undefined;
  const files: { cacert?: string; cert?: string; key?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = () => inline ?? args[++i];
    if (flag === "--endpoint" || flag === "--endpoints") endpoint = value() ?? "";
    else if (flag === "--topics") topics = (value() ?? "").split(",").filter(Boolean);
    else if (flag === "--prefix") prefix = value() ?? "";
    else if (flag === "--token") token = value();
    else if (flag === "--cacert" || flag === "--cert" || flag === "--key")
      files[flag.slice(2) as "cert"] = value();
    else if (flag === "--help" || flag === "-h") return USAGE;
    else return `rxetcd feed: unknown flag ${args[i]}\n${USAGE}`;
  }
  for (const t of topics)
    if (isLeft(Topic.decode(t)))
      return `rxetcd feed: unknown topic "${t}" (topics: ${ALL_TOPICS.join(", ")})\n`;
  if (!/^https?:\/\//.test(endpoint))
    return `rxetcd feed: --endpoint must be an http:// or https:// URL, got "${endpoint}"\n`;
  if ((files.cert === undefined) !== (files.key === undefined))
    return "rxetcd feed: --cert and --key go together\n";
  const tls: TailTls = {};
  for (const [name, field] of [
    ["cacert", "ca"],
    ["cert", "cert"],
    ["key", "key"],
  ] as const) {
    const file = files[name];
    if (file === undefined) continue;
    try {
      tls[field] = readFileSync(file, "utf8");
    } catch (err) {
      return `rxetcd feed: cannot read --${name} ${file}: ${(err as Error).message}\n`;
    }
  }
  const subscription: Subscription = { topics: topics as Topic[] };
  if (prefix !== undefined) subscription.keys = [{ key: prefix, prefix: true }];
  return {
    endpoint,
    subscription,
    ...(token ? { token } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/** Runs until interrupted or dropped; resolves with the exit code. */
export function tailFeed(args: string[], io: TailIo): Promise<number> {
  const parsed = parseTailArgs(args);
  if (typeof parsed === "string") {
    (parsed === USAGE ? io.stdout : io.stderr)(parsed);
    return Promise.resolve(parsed === USAGE ? 0 : 2);
  }
  return new Promise((resolve) => {
    const client = new FeedClient(parsed.endpoint, {
      subscription: parsed.subscription,
      ...(parsed.token ? { token: parsed.token } : {}),
      ...(parsed.tls ? { tls: parsed.tls } : {}),
    });
    client.events$.subscribe((e) => io.stdout(`${formatEvent(e)}\n`));
    client.errors$.subscribe((e) => io.stderr(`rxetcd feed: ${e.code}: ${e.message}\n`));
    client.dropped$.subscribe((d) => {
      io.stderr(`rxetcd feed: dropped by the member: ${d.reason} (${d.limit}=${d.value})\n`);
      client.close();
      resolve(1);
    });
    process.once("SIGINT", () => {
      client.close();
      resolve(0);
    });
  });
}
