// The gRPC services of the client port, in one list: what grpc-js registers (grpc-services.ts) and
// what grpc-go's unknown-service and unknown-method answers are judged against (method-table.ts).
import {
  AuthService,
  ClusterService,
  KVService,
  LeaseService,
  MaintenanceService,
} from "../../gen/etcdserverpb/rpc.js";
import { ElectionService } from "../../gen/v3electionpb/v3election.js";
import { LockService } from "../../gen/v3lockpb/v3lock.js";
import type { MethodDefinition } from "../client-handlers.js";
import { HealthService } from "./health-service.js";
import { WatchServiceDefinition } from "./watch-response-encoder.js";

/**
 * etcd's services, in etcd's order of registration (Watch with its own answer encoder); the first
 * six are the ones whose metrics etcd registers (Lock and Election come after).
 */
export const etcdServices: Record<string, MethodDefinition<unknown, unknown>>[] = [
  KVService,
  WatchServiceDefinition,
  LeaseService,
  ClusterService,
  MaintenanceService,
  AuthService,
  LockService,
  ElectionService,
];

/** Every service the client port serves: etcd's and health. */
export const servedServices: Record<string, { path: string }>[] = [...etcdServices, HealthService];
