// The text of `rxetcd --help` and `rxetcd --version`. The help lists flags in etcd 3.4's
// groups and order, each with its default, so etcd users find what they know where they expect it.

import { ETCD_API_VERSION, ETCD_VERSION } from "./defaults.js";
import { FLAGS, HELP_GROUPS } from "./flags.js";

export const USAGE = `Usage:

  rxetcd [flags]
    Start an rxetcd server (etcd ${ETCD_VERSION} compatible).

  rxetcd --version
    Print the version and exit.

  rxetcd -h | --help
    Print this help and exit.

  rxetcd --config-file <path>
    Read the configuration from a YAML file; other flags and ETCD_* environment variables are then ignored.

  rxetcd snapshot restore <file> [flags]
    Restore a snapshot saved from etcd or rxetcd into a new data dir (etcdctl snapshot restore's flags).

Every flag can also be given as an environment variable: --listen-client-urls is ETCD_LISTEN_CLIENT_URLS.
`;

/** The flag groups, each flag with its default in quotes and one line of explanation. */
export function flagsHelp(): string {
  const lines: string[] = [];
  for (const group of HELP_GROUPS) {
    const flags = FLAGS.filter((f) => f.group === group);
    if (flags.length === 0) continue;
    lines.push("", `${group}:`);
    for (const f of flags) {
      lines.push(`  --${f.name} '${f.shownDefault}'`, `    ${f.help}`);
    }
    if (group === "Unsafe feature") {
      lines.push(
        "",
        "CAUTIOUS with unsafe flag! It may break the guarantees given by the consensus protocol!",
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

export function helpText(): string {
  return `${USAGE}${flagsHelp()}`;
}

export interface VersionInfo {
  rxetcdVersion: string;
  nodeVersion: string;
  platform: string;
  arch: string;
}

/** etcd prints "etcd Version", "Git SHA", "Go Version", "Go OS/Arch"; these are our equivalents. */
export function versionText(info: VersionInfo): string {
  return [
    `rxetcd Version: ${info.rxetcdVersion}`,
    `etcd Version: ${ETCD_VERSION}`,
    `API Version: ${ETCD_API_VERSION}`,
    `Node Version: ${info.nodeVersion}`,
    `Node OS/Arch: ${info.platform}/${info.arch}`,
    "",
  ].join("\n");
}
