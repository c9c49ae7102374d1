// The RxJS layer of rxetcd: generic, typed sources and operators. Nothing here knows about etcd.
export { batchWhileBusy } from "./operators/batch-while-busy.js";
export { inOrder } from "./operators/in-order.js";
export { ticks } from "./sources/ticks.js";
