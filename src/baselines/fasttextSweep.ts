/**
 * fastText is not incremental: its learning rate decays to zero over the epochs it is given, so
 * P@1 after 5 epochs of a 25-epoch run is not what a 5-epoch run reaches. Its accuracy against
 * time is therefore a set of runs, one a number of epochs, for each configuration (loss, learning
 * rate, input encoding), each run timed from scratch.
 *
 * "Where affordable": every run must fit in the budget of training seconds every system gets.
 * Runs of a configuration go from the fewest epochs up. A run is not started when the finished
 * ones project it over the budget (two finished runs: the line through the last two, since each
 * run also pays a fixed cost to start, load and save; one: in proportion to the epochs, which
 * errs high); a run that is started is stopped as soon as its own progress projects it over the
 * budget, or at the budget (the runner's job: `run` gets the limit). Once a run of a configuration
 * is skipped or stopped, its longer runs are skipped too. A run that fails (fastText aborts, e.g.
 * when a high learning rate makes its weights NaN) is recorded as failed and blocks its longer
 * runs the same way: one diverging configuration does not end the sweep. Every run tried or
 * skipped is recorded with the reason.
 */
import type { FasttextInput, FasttextLoss } from './fasttext.js';

export interface SweepGroup {
  loss: FasttextLoss;
  lr: number;
  input: FasttextInput;
}

/** What the runner reports of one run. */
export interface Attempt<M> {
  seconds: number;
  /** measured when the run finished; null when it was stopped */
  metrics: M | null;
  /** why it was stopped (when metrics is null) */
  stopped?: string;
  /** set when the run failed instead (metrics null): what fastText said */
  failed?: string;
}

export type SweepRecord<M> = SweepGroup & {
  epochs: number;
  /** what the finished runs projected for this one (null: no run of the configuration had finished) */
  projectedSec: number | null;
} & (
    | { status: 'done'; seconds: number; metrics: M }
    | { status: 'stopped'; seconds: number; reason: string }
    | { status: 'failed'; seconds: number; reason: string }
    | { status: 'skipped'; reason: string }
  );

interface Finished {
  epochs: number;
  seconds: number;
}

/**
 * Seconds the finished runs of a configuration (ascending epochs) project for a run of `epochs`:
 * the line through the last two when it rises, else in proportion to the last; null with none.
 */
export function projectSeconds(epochs: number, finished: readonly Finished[]): number | null {
  const b = finished[finished.length - 1];
  if (!b) return null;
  const a = finished[finished.length - 2];
  if (a && b.epochs > a.epochs && b.seconds > a.seconds) return b.seconds + ((b.seconds - a.seconds) / (b.epochs - a.epochs)) * (epochs - b.epochs);
  return (b.seconds * epochs) / b.epochs;
}

/**
 * Run every group over `epochList` as the module comment says. `run(g, epochs, limitSec)` trains
 * and measures one run (stopping it past the limit); this decides what to run and records it.
 */
export async function sweepFasttext<M>(
  groups: readonly SweepGroup[],
  epochList: readonly number[],
  budgetSec: number,
  run: (g: SweepGroup, epochs: number, limitSec: number) => Promise<Attempt<M>>,
  log: (s: string) => void = () => {},
): Promise<SweepRecord<M>[]> {
  const epochs = [...new Set(epochList)].sort((a, b) => a - b);
  const records: SweepRecord<M>[] = [];
  for (const g of groups) {
    const what = `fastText loss ${g.loss}, lr ${g.lr}, input ${g.input}`;
    const finished: Finished[] = [];
    let blocked: string | null = null;
    for (const e of epochs) {
      const projectedSec = projectSeconds(e, finished);
      if (blocked !== null) {
        records.push({ ...g, epochs: e, projectedSec, status: 'skipped', reason: blocked });
        continue;
      }
      if (projectedSec !== null && projectedSec > budgetSec) {
        const reason = `projected ${projectedSec.toFixed(1)} s from the shorter runs exceeds the budget of ${budgetSec} s`;
        records.push({ ...g, epochs: e, projectedSec, status: 'skipped', reason });
        log(`  ${what}, ${e} epochs: skipped, ${reason}`);
        blocked = `the run of ${e} epochs was already projected over the budget`;
        continue;
      }
      const a = await run(g, e, budgetSec);
      if (a.metrics === null && a.failed !== undefined) {
        records.push({ ...g, epochs: e, projectedSec, status: 'failed', seconds: a.seconds, reason: a.failed });
        log(`  ${what}, ${e} epochs: failed, ${a.failed}`);
        blocked = `the run of ${e} epochs failed`;
        continue;
      }
      if (a.metrics === null) {
        const reason = a.stopped ?? 'stopped';
        records.push({ ...g, epochs: e, projectedSec, status: 'stopped', seconds: a.seconds, reason });
        log(`  ${what}, ${e} epochs: ${reason}`);
        blocked = `the run of ${e} epochs was stopped over the budget`;
        continue;
      }
      records.push({ ...g, epochs: e, projectedSec, status: 'done', seconds: a.seconds, metrics: a.metrics });
      finished.push({ epochs: e, seconds: a.seconds });
    }
  }
  return records;
}

/** A finished run. */
export type DoneRecord<M> = Extract<SweepRecord<M>, { status: 'done' }>;

/**
 * The best finished run within the budget by `score` (ties: the faster run), and its
 * configuration's finished runs within the budget by time (its curve); null when none finished.
 */
export function bestOfSweep<M>(records: readonly SweepRecord<M>[], budgetSec: number, score: (m: M) => number): { best: DoneRecord<M>; curve: DoneRecord<M>[] } | null {
  let best: DoneRecord<M> | null = null;
  for (const r of records) {
    if (r.status !== 'done' || r.seconds > budgetSec) continue;
    if (best === null || score(r.metrics) > score(best.metrics) || (score(r.metrics) === score(best.metrics) && r.seconds < best.seconds)) best = r;
  }
  if (best === null) return null;
  const b = best;
  const curve = records
    .filter((r): r is DoneRecord<M> => r.status === 'done' && r.seconds <= budgetSec && r.loss === b.loss && r.lr === b.lr && r.input === b.input)
    .sort((x, y) => x.seconds - y.seconds);
  return { best: b, curve };
}
