// The machine's default host: the IPv4 address of the interface that carries the default route.
// etcd advertises it instead of "localhost" when it listens on 0.0.0.0 with default advertise URLs.

import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";

export type DefaultHostDetector = () => string | undefined;

/** The interface of the first default route in a /proc/net/route table. */
export function defaultRouteInterface(routeTable: string): string | undefined {
  for (const line of routeTable.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 8) continue;
    const [iface, destination, , , , , , mask] = cols;
    if (destination === "00000000" && mask === "00000000") return iface;
  }
  return undefined;
}

/** Linux only; undefined wherever the route table or an IPv4 address cannot be found. */
export const detectDefaultHost: DefaultHostDetector = () => {
  let table: string;
  try {
    table = readFileSync("/proc/net/route", "utf8");
  } catch {
    return undefined;
  }
  const iface = defaultRouteInterface(table);
  if (iface === undefined) return undefined;
  const address = networkInterfaces()[iface]?.find((a) => a.family === "IPv4");
  return address?.address;
};
