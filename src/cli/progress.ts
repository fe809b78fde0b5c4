import cliProgress from 'cli-progress';
import type { Progress, EpochSummary } from '../training/model.js';

/**
 * Training progress for people: a live bar on a TTY (samples/s, loss, running P@1, ETA), plain
 * log lines every few seconds otherwise (CI logs, pipes).
 */
export class ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private lastPlain = 0;
  private lastBar = 0;
  private epoch = -1;

  constructor(
    private readonly tty: boolean = Boolean(process.stderr.isTTY),
    private readonly out: NodeJS.WritableStream = process.stderr,
    private readonly plainEverySec = 5,
  ) {}

  onProgress = (p: Progress): void => {
    if (this.tty) {
      if (p.epoch !== this.epoch) {
        this.bar?.stop();
        this.epoch = p.epoch;
        this.bar = new cliProgress.SingleBar(
          {
            stream: this.out as NodeJS.WriteStream,
            format: 'epoch {epoch} |{bar}| {percentage}% | {sps} samples/s | loss {loss} | P@1 {p1} | active {active} | ETA {etas}',
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, p.total), 0, this.payload(p));
      }
      const now = performance.now();
      if (now - this.lastBar > 100 || p.done === p.total) {
        this.lastBar = now;
        this.bar!.update(p.done, this.payload(p));
      }
    } else {
      const now = performance.now() / 1000;
      if (now - this.lastPlain >= this.plainEverySec) {
        this.lastPlain = now;
        this.out.write(
          `epoch ${p.epoch} ${p.done}/${p.total} samples, ${p.samplesPerSec.toFixed(0)} samples/s, loss ${p.loss.toFixed(4)}, ` +
            `running P@1 ${p.runningP1.toFixed(3)}, active ${p.activePerSample.toFixed(0)}/sample, ETA ${fmtSec(p.etaSec)}\n`,
        );
      }
    }
  };

  onEpoch = (e: EpochSummary): void => {
    this.bar?.stop();
    this.bar = null;
    this.epoch = -1;
    let line = `epoch ${e.epoch}: ${e.seconds.toFixed(1)} s, ${e.samplesPerSec.toFixed(0)} samples/s, loss ${e.loss.toFixed(4)}, train P@1 ${e.trainP1.toFixed(3)}, active ${e.activePerSample.toFixed(0)}/sample`;
    if (e.eval?.exact) line += ` | test exact P@1 ${e.eval.exact.p1.toFixed(4)} P@5 ${e.eval.exact.p5.toFixed(4)}`;
    if (e.eval?.lsh) line += ` | test LSH P@1 ${e.eval.lsh.p1.toFixed(4)} P@5 ${e.eval.lsh.p5.toFixed(4)}`;
    if (e.eval) line += ` (${e.eval.points} points)`;
    this.out.write(line + '\n');
  };

  stop(): void {
    this.bar?.stop();
  }

  private payload(p: Progress): Record<string, string | number> {
    return {
      epoch: p.epoch,
      sps: p.samplesPerSec.toFixed(0),
      loss: p.loss.toFixed(4),
      p1: p.runningP1.toFixed(3),
      active: p.activePerSample.toFixed(0),
      etas: fmtSec(p.etaSec),
    };
  }
}

export function fmtSec(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
