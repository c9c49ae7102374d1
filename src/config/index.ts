// rxetcd's configuration: the Config type and codec, its defaults, loading from flags,
// ETCD_* variables and a YAML file, validation, and the help and version texts.

export {
  ClusterConfigError,
  type HostResolver,
  type InitialCluster,
  initialClusterOf,
  parseInitialCluster,
  verifyInitialCluster,
} from "./cluster.js";
export {
  type ClusterState,
  type CompactionMode,
  type Config,
  ConfigCodec,
  type DiscoveryFallback,
  type EtcdUrl,
  EtcdUrlCodec,
  LOG_LEVELS,
  type LogLevel,
  type ProxyMode,
  type TlsConfig,
  type UrlScheme,
} from "./codec.js";
export { CONFIG_FILE_KEYS, ConfigFileError } from "./config-file.js";
export { type DefaultHostDetector, detectDefaultHost } from "./default-host.js";
export * from "./defaults.js";
export type { Environment } from "./env.js";
export { FLAGS, type FlagDef, flagToEnv, HELP_GROUPS, type HelpGroup } from "./flags.js";
export { flagsHelp, helpText, USAGE, type VersionInfo, versionText } from "./help.js";
export {
  buildConfig,
  ConfigError,
  initialClusterFromName,
  type LoadOptions,
  type LoadResult,
  loadConfig,
  mayBeProxy,
} from "./load.js";
export { parseEtcdUrl, parseUrlList, UrlListError, urlListText } from "./urls.js";
export {
  type AuthTokenSpec,
  type CompactionRetention,
  parseAuthToken,
  parseCompactionRetention,
  validateConfig,
} from "./validate.js";
