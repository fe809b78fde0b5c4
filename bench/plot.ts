/**
 * Self-contained SVG chart of an accuracy benchmark: P@1 on the fixed test sample against
 * training wall-clock seconds, one polyline (plus point markers) per system, legend, axes with
 * ticks and labels, title. No external fonts, scripts or stylesheets.
 */

export interface SeriesPoint {
  /** training wall-clock seconds (evaluation time excluded) */
  seconds: number;
  p1: number;
  p5: number;
  /** mean training loss of the batches since the previous point (when known) */
  trainLoss?: number;
  /** samples trained so far */
  samples?: number;
  /** epochs of the run (a system whose points are separate runs) */
  epochs?: number;
}

export interface Series {
  system: string;
  points: SeriesPoint[];
  /** each point is a separate run from scratch (fastText), not a moment of one run: drawn dashed */
  runs?: boolean;
  /** a line of the legend under the name, e.g. the configuration of the runs */
  note?: string;
}

export interface FinalMetrics {
  p1: number;
  p5: number;
  samplesPerSec: number;
  epochs: number;
  [extra: string]: unknown;
}

export interface AccuracyResult {
  dataset: string;
  budgetSec: number;
  series: Series[];
  final: Record<string, FinalMetrics>;
  derived: {
    lshTimeToDenseFinalP1: number | null;
    denseTimeToDenseFinalP1: number | null;
    speedupVsDense: number | null;
    lshTimeToTfjsFinalP1: number | null;
    tfjsTimeToTfjsFinalP1: number | null;
    speedupVsTfjs: number | null;
    lshTimeToFasttextFinalP1?: number | null;
    fasttextTimeToFasttextFinalP1?: number | null;
    speedupVsFasttext?: number | null;
    [extra: string]: unknown;
  };
  machine: { cpus: number; node: string; [extra: string]: unknown };
  commands: string;
  [extra: string]: unknown;
}

/** Colours by system name, then a fallback palette (colour-blind friendly). */
const KNOWN_COLOURS: Record<string, string> = {
  'sublinear-lsh': '#d55e00',
  'sublinear-dense': '#0072b2',
  'tfjs-wasm': '#009e73',
  'tfjs-cpu': '#009e73',
  'sublinear-defaults': '#e69f00',
  fasttext: '#cc79a7',
};
const PALETTE = ['#56b4e9', '#f0e442', '#000000', '#999999'];

/** "Nice" tick values covering [0, max]: steps of 1, 2 or 5 times a power of ten, about `count` of them. */
export function niceTicks(max: number, count = 6): { step: number; top: number; ticks: number[] } {
  if (!(max > 0) || !Number.isFinite(max)) max = 1;
  const raw = max / Math.max(1, count);
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / pow;
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
  const n = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = 0; i <= n; i++) ticks.push(roundTo(i * step, step));
  return { step, top: roundTo(n * step, step), ticks };
}

function roundTo(x: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(x.toFixed(Math.min(12, digits)));
}

function fmtTick(x: number, step: number): string {
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return x.toFixed(Math.min(6, digits));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(x: number): string {
  return (Math.round(x * 100) / 100).toString();
}

export interface PlotOptions {
  width?: number;
  height?: number;
  title?: string;
}

/** The chart as an SVG document (string). Points with non-finite values are skipped. */
export function renderAccuracySvg(result: AccuracyResult, opts: PlotOptions = {}): string {
  const W = opts.width ?? 860;
  const H = opts.height ?? 520;
  const ml = 72;
  const mr = 210;
  const mt = 58;
  const mb = 64;
  const pw = W - ml - mr;
  const ph = H - mt - mb;

  const series = result.series.map((s) => ({
    system: s.system,
    runs: s.runs === true,
    note: s.note,
    points: s.points.filter((p) => Number.isFinite(p.seconds) && Number.isFinite(p.p1) && p.seconds >= 0).sort((a, b) => a.seconds - b.seconds),
  }));
  let xMaxData = 0;
  let yMaxData = 0;
  for (const s of series) {
    for (const p of s.points) {
      xMaxData = Math.max(xMaxData, p.seconds);
      yMaxData = Math.max(yMaxData, p.p1);
    }
  }
  const xt = niceTicks(xMaxData > 0 ? xMaxData : Number.isFinite(result.budgetSec) && result.budgetSec > 0 ? result.budgetSec : 1, 8);
  const yt = niceTicks(Math.min(1, Math.max(0.05, yMaxData * 1.08)), 6);
  const X = (s: number): number => ml + (s / xt.top) * pw;
  const Y = (p: number): number => mt + ph - (p / yt.top) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  const title = opts.title ?? `P@1 against training time, ${result.dataset} (budget ${num(result.budgetSec)} s per system)`;
  out.push(`<text x="${num(W / 2)}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);

  // grid and ticks
  out.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  for (const t of xt.ticks) out.push(`<line x1="${num(X(t))}" y1="${num(mt)}" x2="${num(X(t))}" y2="${num(mt + ph)}"/>`);
  for (const t of yt.ticks) out.push(`<line x1="${num(ml)}" y1="${num(Y(t))}" x2="${num(ml + pw)}" y2="${num(Y(t))}"/>`);
  out.push('</g>');
  out.push('<g class="axes" stroke="#333333" stroke-width="1">');
  out.push(`<line x1="${num(ml)}" y1="${num(mt + ph)}" x2="${num(ml + pw)}" y2="${num(mt + ph)}"/>`);
  out.push(`<line x1="${num(ml)}" y1="${num(mt)}" x2="${num(ml)}" y2="${num(mt + ph)}"/>`);
  for (const t of xt.ticks) out.push(`<line x1="${num(X(t))}" y1="${num(mt + ph)}" x2="${num(X(t))}" y2="${num(mt + ph + 5)}"/>`);
  for (const t of yt.ticks) out.push(`<line x1="${num(ml - 5)}" y1="${num(Y(t))}" x2="${num(ml)}" y2="${num(Y(t))}"/>`);
  out.push('</g>');
  out.push('<g class="tick-labels" fill="#333333">');
  for (const t of xt.ticks) out.push(`<text x="${num(X(t))}" y="${num(mt + ph + 19)}" text-anchor="middle">${fmtTick(t, xt.step)}</text>`);
  for (const t of yt.ticks) out.push(`<text x="${num(ml - 8)}" y="${num(Y(t) + 4)}" text-anchor="end">${fmtTick(t, yt.step)}</text>`);
  out.push('</g>');
  const samplePts = typeof result['evalPoints'] === 'number' ? ` (fixed sample of ${result['evalPoints']} test points)` : '';
  out.push(`<text x="${num(ml + pw / 2)}" y="${num(H - 18)}" text-anchor="middle" font-size="13">training wall-clock time (s), evaluation excluded</text>`);
  out.push(`<text x="18" y="${num(mt + ph / 2)}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${num(mt + ph / 2)})">${esc(`P@1${samplePts}`)}</text>`);

  // series
  let extra = 0;
  const colourOf = (name: string): string => KNOWN_COLOURS[name] ?? PALETTE[extra++ % PALETTE.length]!;
  const colours = series.map((s) => colourOf(s.system));
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const c = colours[i]!;
    const pts = s.points.map((p) => `${num(X(p.seconds))},${num(Y(p.p1))}`).join(' ');
    out.push(`<g class="series" data-system="${esc(s.system)}">`);
    const dash = s.runs ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2.2" stroke-linejoin="round"${dash} points="${pts}"/>`);
    for (const p of s.points) out.push(`<circle cx="${num(X(p.seconds))}" cy="${num(Y(p.p1))}" r="3" fill="${c}"/>`);
    out.push('</g>');
  }

  // legend
  const lx = ml + pw + 18;
  let ly = mt + 8;
  out.push('<g class="legend">');
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const c = colours[i]!;
    const f = result.final[s.system];
    const dash = s.runs ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${num(lx)}" y1="${num(ly)}" x2="${num(lx + 26)}" y2="${num(ly)}" stroke="${c}" stroke-width="3"${dash}/>`);
    out.push(`<text x="${num(lx + 34)}" y="${num(ly + 4)}" font-weight="bold">${esc(s.system)}</text>`);
    // the lines under the name (the legend column is ~150 px wide): the note, whether points are runs, the final P@1, the speed
    const lines: string[] = [];
    if (s.note) lines.push(s.note);
    if (s.runs) lines.push('each point a separate run');
    if (f && Number.isFinite(f.p1)) {
      const sampled = typeof result['finalPoints'] === 'number' && typeof result['testPoints'] === 'number' && result['finalPoints'] < result['testPoints'];
      lines.push(`${sampled ? `test P@1 (${result['finalPoints']} points)` : 'full test P@1'} ${f.p1.toFixed(3)}`);
      if (Number.isFinite(f.samplesPerSec)) lines.push(`${Math.round(f.samplesPerSec)} samples/s${typeof f['threads'] === 'number' ? `, ${f['threads']} thread${f['threads'] === 1 ? '' : 's'}` : ''}`);
    }
    lines.forEach((t, j) => out.push(`<text x="${num(lx + 34)}" y="${num(ly + 20 + 14 * j)}" font-size="11" fill="#555555">${esc(t)}</text>`));
    ly += 26 + 14 * Math.max(2, lines.length);
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
