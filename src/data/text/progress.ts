import cliProgress from 'cli-progress';

/**
 * Progress of an import on stderr: a bar (bytes, MB/s, rows, ETA) on a terminal when the input's
 * size is known, otherwise a plain line every few seconds (logs, pipes, stdin).
 */
export class ImportProgress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private lastPlain = 0;

  constructor(
    private readonly totalBytes: number | null,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty: boolean = Boolean(process.stderr.isTTY),
    private readonly plainEverySec = 5,
  ) {
    if (this.tty && totalBytes !== null && totalBytes > 0) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: out,
          format: 'reading |{bar}| {percentage}% | {mb} of {totalMb} MB | {mbps} MB/s | {rows} rows | ETA {eta_formatted}',
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(totalBytes, 0, { mb: '0', totalMb: (totalBytes / 1e6).toFixed(1), mbps: '0', rows: '0' });
    }
  }

  /** Seconds since the start. */
  get seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  update = (p: { bytes: number; rows: number }): void => {
    const now = performance.now();
    const sec = (now - this.t0) / 1000;
    const mbps = sec > 0 ? p.bytes / 1e6 / sec : 0;
    if (this.bar) {
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.bar.update(p.bytes, { mb: (p.bytes / 1e6).toFixed(1), mbps: mbps.toFixed(1), rows: p.rows.toLocaleString('en-US') });
    } else if (sec - this.lastPlain >= this.plainEverySec) {
      this.lastPlain = sec;
      const pct = this.totalBytes ? ` (${((100 * p.bytes) / this.totalBytes).toFixed(0)}%)` : '';
      this.out.write(`reading: ${(p.bytes / 1e6).toFixed(1)} MB${pct}, ${p.rows.toLocaleString('en-US')} rows, ${mbps.toFixed(1)} MB/s\n`);
    }
  };

  /** The input is read: say so, and that the data set is being written (which takes a while on a large input). */
  readDone = (p: { bytes: number; rows: number }): void => {
    this.stop();
    const sec = this.seconds;
    this.out.write(
      `read ${(p.bytes / 1e6).toFixed(1)} MB, ${p.rows.toLocaleString('en-US')} rows in ${sec.toFixed(1)} s (${(p.bytes / 1e6 / Math.max(sec, 1e-9)).toFixed(1)} MB/s); writing the data set ...\n`,
    );
  };

  /** Clear the bar (before the summary or an error message). */
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
