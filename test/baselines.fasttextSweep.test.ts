import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestOfSweep, projectSeconds, sweepFasttext, type Attempt, type SweepGroup } from '../src/baselines/fasttextSweep.js';
import { flattenRecord } from '../bench/accuracy.js';

test('projectSeconds: the line through the last two finished runs, else in proportion to the last', () => {
  assert.equal(projectSeconds(5, []), null);
  assert.equal(projectSeconds(5, [{ epochs: 2, seconds: 4 }]), 10);
  // 3 s to start, load and save plus 1 s an epoch
  assert.equal(projectSeconds(25, [{ epochs: 5, seconds: 8 }, { epochs: 10, seconds: 13 }]), 28);
  // a longer run measured faster than a shorter one (noise): back to the proportion
  assert.equal(projectSeconds(20, [{ epochs: 5, seconds: 9 }, { epochs: 10, seconds: 8 }]), 16);
});

/** A fake fastText: seconds = start + perEpoch * epochs by loss; P@1 rises with the epochs up to 25, then falls. */
function fakeRunner(cost: Record<string, { start: number; perEpoch: number }>): { run: (g: SweepGroup, e: number, limit: number) => Promise<Attempt<{ p1: number }>>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (g, e, limit) => {
      calls.push(`${g.loss}:${e}`);
      const c = cost[g.loss]!;
      const t = c.start + c.perEpoch * e;
      // the runner stops a run at the limit, as trainRun does
      if (t > limit) return { seconds: limit, metrics: null, stopped: `stopped at the time limit of ${limit} s` };
      return { seconds: t, metrics: { p1: (g.loss === 'hs' ? 0.4 : 0.3) - Math.abs(25 - e) / 100 } };
    },
  };
}

test('sweepFasttext: runs in ascending epochs, skips what finished runs project over the budget, and records every configuration', async () => {
  const groups: SweepGroup[] = [
    { loss: 'hs', lr: 0.5, input: 'once' },
    { loss: 'softmax', lr: 0.5, input: 'once' },
  ];
  const f = fakeRunner({ hs: { start: 3, perEpoch: 0.4 }, softmax: { start: 3, perEpoch: 170 } });
  const records = await sweepFasttext(groups, [50, 1, 2, 5, 10, 25, 2], 600, f.run);
  // hs: all fit (3 + 0.4 * 50 = 23 s); softmax: 1 and 2 epochs run (173 s, 343 s), 5 is projected at 853 s
  assert.deepEqual(f.calls, ['hs:1', 'hs:2', 'hs:5', 'hs:10', 'hs:25', 'hs:50', 'softmax:1', 'softmax:2']);
  assert.deepEqual(records.map((r) => `${r.loss}:${r.epochs}:${r.status}`), [
    'hs:1:done', 'hs:2:done', 'hs:5:done', 'hs:10:done', 'hs:25:done', 'hs:50:done',
    'softmax:1:done', 'softmax:2:done', 'softmax:5:skipped', 'softmax:10:skipped', 'softmax:25:skipped', 'softmax:50:skipped',
  ]);
  const s5 = records[8]!;
  assert.ok(s5.status === 'skipped');
  assert.ok(Math.abs(s5.projectedSec! - 853) < 1e-9);
  assert.match(s5.reason, /projected 853\.0 s from the shorter runs exceeds the budget of 600 s/);
  assert.ok(records[9]!.status === 'skipped' && /5 epochs was already projected over the budget/.test(records[9]!.reason));
  assert.equal(records[0]!.projectedSec, null, 'nothing to project the first run from: the runner watches it');
  // the best: highest P@1 (hs, 25 epochs); its curve: every finished hs run by time
  const best = bestOfSweep(records, 600, (m) => m.p1)!;
  assert.equal(best.best.loss, 'hs');
  assert.equal(best.best.epochs, 25);
  assert.deepEqual(best.curve.map((r) => r.epochs), [1, 2, 5, 10, 25, 50]);
  // the JSON's record of a run and of a skip
  const fixed = { dim: 100, wordNgrams: 1, threads: 2 };
  assert.deepEqual(flattenRecord(records[4]!, fixed, 1000), {
    loss: 'hs', epochs: 25, lr: 0.5, dim: 100, wordNgrams: 1, input: 'once', threads: 2, status: 'done', projectedSec: 13, seconds: 13, samplesPerSec: 1923.1, p1: 0.4,
  });
  assert.deepEqual(Object.keys(flattenRecord(s5, fixed, 1000)).sort(), ['dim', 'epochs', 'input', 'loss', 'lr', 'projectedSec', 'reason', 'status', 'threads', 'wordNgrams']);
});

test('sweepFasttext: a run stopped over the budget blocks its longer runs; no finished run means no best', async () => {
  const f = fakeRunner({ ova: { start: 5, perEpoch: 100 } });
  const records = await sweepFasttext([{ loss: 'ova', lr: 0.5, input: 'once' }], [1, 2, 5], 60, f.run);
  assert.deepEqual(f.calls, ['ova:1']);
  assert.deepEqual(records.map((r) => r.status), ['stopped', 'skipped', 'skipped']);
  const r0 = records[0]!;
  assert.ok(r0.status === 'stopped' && r0.seconds === 60 && /time limit of 60 s/.test(r0.reason));
  assert.equal(bestOfSweep(records, 60, (m) => m.p1), null);
});

test('sweepFasttext: a run that fails (fastText aborts) is recorded as failed, blocks its longer runs, and the next configuration still runs', async () => {
  const calls: string[] = [];
  const run = async (g: SweepGroup, e: number): Promise<Attempt<{ p1: number }>> => {
    calls.push(`${g.loss}:${e}`);
    if (g.loss === 'ova' && e >= 2) return { seconds: 7, metrics: null, failed: 'fastText ended with signal SIGABRT: Encountered NaN.' };
    return { seconds: 1 + e, metrics: { p1: 0.1 * e } };
  };
  const groups: SweepGroup[] = [{ loss: 'ova', lr: 0.5, input: 'once' }, { loss: 'hs', lr: 0.5, input: 'once' }];
  const records = await sweepFasttext(groups, [1, 2, 5], 600, run);
  assert.deepEqual(calls, ['ova:1', 'ova:2', 'hs:1', 'hs:2', 'hs:5']);
  assert.deepEqual(records.map((r) => `${r.loss}:${r.epochs}:${r.status}`), ['ova:1:done', 'ova:2:failed', 'ova:5:skipped', 'hs:1:done', 'hs:2:done', 'hs:5:done']);
  const failed = records[1]!;
  assert.ok(failed.status === 'failed' && failed.seconds === 7 && /Encountered NaN/.test(failed.reason));
  const skipped = records[2]!;
  assert.ok(skipped.status === 'skipped' && /failed/.test(skipped.reason));
  assert.equal(flattenRecord(failed, { dim: 100, wordNgrams: 1, threads: 2 }, 1000)['reason'], failed.reason);
  assert.equal(bestOfSweep(records, 600, (m) => m.p1)?.best.loss, 'hs');
});

test('bestOfSweep: a tie goes to the faster run; a run over the budget never wins', () => {
  const g = { loss: 'hs' as const, lr: 0.5, input: 'once' as const };
  const records = [
    { ...g, epochs: 10, projectedSec: null, status: 'done' as const, seconds: 8, metrics: { p1: 0.4 } },
    { ...g, epochs: 5, projectedSec: null, status: 'done' as const, seconds: 5, metrics: { p1: 0.4 } },
    { ...g, lr: 1, epochs: 50, projectedSec: null, status: 'done' as const, seconds: 61, metrics: { p1: 0.5 } },
  ];
  const b = bestOfSweep(records, 60, (m) => m.p1)!;
  assert.equal(b.best.epochs, 5);
  assert.deepEqual(b.curve.map((r) => r.seconds), [5, 8], 'the curve: that configuration only, by time');
});
