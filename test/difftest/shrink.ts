// Minimisation of a failing sequence: removes runs of operations (halving their length) as long as the rest still
// makes the two servers differ. Every trial runs on fresh members, so it costs a start-up each; a budget bounds it.
import type { Op } from "./generator.js";
import type { RunResult } from "./runner.js";

/** Runs a subsequence (given as indices into the seed's operations) on fresh members. */
export type Trial = (indices: number[]) => Promise<RunResult>;

export interface ShrinkResult {
  /** Indices into the seed's operations; the last one is where the difference shows. */
  indices: number[];
  result: RunResult;
  trials: number;
}

/**
 * Shrinks `indices` (whose run gave `failing`) to a shorter list that still differs. A trial that differs earlier
 * than its last operation is cut there, so the list always ends with the operation that shows the difference.
 */
export async function shrink(
  indices: number[],
  failing: RunResult,
  trial: Trial,
  budget: number,
  onProgress?: (indices: number[]) => void,
): Promise<ShrinkResult> {
  if (!failing.divergence) throw new Error("shrink needs a failing run");
  const wanted = signature(failing);
  let best = indices.slice(0, failing.divergence.index + 1);
  let bestResult = failing;
  let trials = 0;
  let chunk = Math.max(1, Math.ceil((best.length - 1) / 2));
  while (trials < budget) {
    let removedAny = false;
    // never remove the last operation: it is where the difference shows
    for (let start = 0; start < best.length - 1 && trials < budget; ) {
      const end = Math.min(start + chunk, best.length - 1);
      const candidate = [...best.slice(0, start), ...best.slice(end)];
      trials++;
      const r = await trial(candidate);
      if (r.divergence && signature(r) === wanted) {
        best = candidate.slice(0, r.divergence.index + 1);
        bestResult = r;
        removedAny = true;
        onProgress?.(best);
      } else {
        start = end;
      }
    }
    if (chunk === 1 && !removedAny) break;
    if (!removedAny) chunk = Math.max(1, Math.floor(chunk / 2));
  }
  return { indices: best, result: bestResult, trials };
}

/**
 * What makes two differences the same one: the kind of operation, where it showed (an answer or a watch item) and
 * the path of the first differing field. A trial that fails differently is not a smaller case of this one.
 */
export function signature(r: RunResult): string {
  const d = r.divergence;
  if (!d) return "";
  const where = d.where === "answer" ? "answer" : "watch";
  return `${d.op.kind} ${where} ${d.detail.replace(/\[\d+\]/g, "[]").split(":")[0]}`;
}

/** The operations at `indices` of `ops`. */
export function pick(ops: Op[], indices: number[]): Op[] {
  return indices.map((i) => {
    const op = ops[i];
    if (!op) throw new Error(`operation ${i} is beyond the ${ops.length} generated`);
    return op;
  });
}
