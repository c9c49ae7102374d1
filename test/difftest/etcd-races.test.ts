// What the differential tester counts as one answer where etcd 3.4 itself races: the order in which waiters that
// one operation released are remembered, and the gateway's two answers to a wait that outlived its deadline.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WaiterOrder } from "./held.js";
import { expiredWhileWaiting } from "./runner.js";

test("waiters answering after the same operation are remembered in the order they were sent", () => {
  // every arrival order of three waiters released at once gives the same list
  const orders = [
    [3, 4, 5],
    [5, 4, 3],
    [4, 3, 5],
    [4, 5, 3],
  ];
  for (const arrival of orders) {
    const list = ["earlier"];
    const order = new WaiterOrder();
    for (const n of arrival) order.add(list, 10, n, `waiter ${n}`);
    assert.deepEqual(list, ["earlier", "waiter 3", "waiter 4", "waiter 5"], `arrival ${arrival.join(",")}`);
  }
  // after a later operation, or after something else joined the list, a waiter goes last
  const list: string[] = [];
  const order = new WaiterOrder();
  order.add(list, 1, 7, "waiter 7");
  order.add(list, 2, 6, "waiter 6");
  list.push("a unary Campaign");
  order.add(list, 2, 5, "waiter 5");
  assert.deepEqual(list, ["waiter 7", "waiter 6", "a unary Campaign", "waiter 5"]);
});

test("a wait past its deadline through the gateway: etcd's 500 with code 2 counts as its 504", () => {
  const racing = {
    http: 500,
    body: { error: "context deadline exceeded", message: "context deadline exceeded", code: 2 },
  };
  const expired = {
    http: 504,
    body: { error: "context deadline exceeded", message: "context deadline exceeded", code: 4 },
  };
  assert.deepEqual(expiredWhileWaiting(1000, racing), expired);
  assert.deepEqual(expiredWhileWaiting(1000, expired), expired);
  // without a deadline, or with another error, the answer stays as it came
  assert.deepEqual(expiredWhileWaiting(undefined, racing), racing);
  const other = { http: 500, body: { error: "etcdserver: requested lease not found", code: 2 } };
  assert.deepEqual(expiredWhileWaiting(1000, other), other);
});
