// Bootstrapping through discovery: etcd's v2 discovery service (--discovery) and DNS SRV records
// (--discovery-srv).
export {
  type BootstrapCluster,
  type BootstrapClusterOptions,
  bootstrapClusterOf,
} from "./initial-cluster.js";
export { dnsSrvResolver, type SrvRecord, type SrvResolver, srvCluster, srvClusterNames } from "./srv.js";
export {
  DiscoveryError,
  type DiscoveryOptions,
  ErrDuplicateID,
  ErrDuplicateName,
  ErrFullCluster,
  getCluster,
  joinCluster,
} from "./v2-discovery.js";
