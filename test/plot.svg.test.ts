import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderAccuracySvg, niceTicks, type AccuracyResult } from '../bench/plot.js';

function sampleResult(): AccuracyResult {
  return {
    dataset: 'wordnet-3.1',
    budgetSec: 60,
    evalPoints: 1000,
    series: [
      { system: 'sublinear-lsh', points: [{ seconds: 0, p1: 0.001, p5: 0.001 }, { seconds: 6.2, p1: 0.21, p5: 0.1 }, { seconds: 12.5, p1: 0.33, p5: 0.15 }, { seconds: 30, p1: 0.41, p5: 0.2 }, { seconds: 60.4, p1: 0.47, p5: 0.22 }] },
      { system: 'sublinear-dense', points: [{ seconds: 0, p1: 0.001, p5: 0.001 }, { seconds: 20, p1: 0.25, p5: 0.1 }, { seconds: 40, p1: 0.3, p5: 0.14 }, { seconds: 60.1, p1: 0.28, p5: 0.13 }] },
      // a non-finite point is skipped, not drawn
      { system: 'tfjs-wasm', points: [{ seconds: 0, p1: 0.001, p5: 0.001 }, { seconds: 15, p1: Number.NaN, p5: 0 }, { seconds: 30, p1: 0.12, p5: 0.05 }, { seconds: 60.9, p1: 0.2, p5: 0.09 }] },
    ],
    final: {
      'sublinear-lsh': { p1: 0.46, p5: 0.21, samplesPerSec: 3000, epochs: 2.4, exactP1: 0.47, exactP5: 0.22 },
      'sublinear-dense': { p1: 0.29, p5: 0.13, samplesPerSec: 900, epochs: 0.7 },
      'tfjs-wasm': { p1: 0.19, p5: 0.09, samplesPerSec: 500, epochs: 0.4 },
    },
    derived: {
      lshTimeToDenseFinalP1: 8, denseTimeToDenseFinalP1: 14, speedupVsDense: 1.75,
      lshTimeToTfjsFinalP1: 6, tfjsTimeToTfjsFinalP1: 60.9, speedupVsTfjs: 10,
    },
    machine: { cpus: 2, node: 'v20' },
    commands: 'BENCH_QUICK=1 npm run bench:accuracy <&> "quoted"',
  };
}

interface Element {
  name: string;
  attrs: Record<string, string>;
}

/** Minimal XML well-formedness check: balanced tags, quoted attributes, escaped text. Returns the elements. */
function parseXmlish(svg: string): Element[] {
  const els: Element[] = [];
  const stack: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let text = '';
  while (i < svg.length) {
    const c = svg[i]!;
    if (c === '<') {
      tagRe.lastIndex = i;
      const m = tagRe.exec(svg);
      assert.ok(m, `malformed tag at ${i}: ${svg.slice(i, i + 60)}`);
      const [whole, close, name, attrText, selfClose] = m;
      if (close) {
        assert.equal(attrText, '', `closing tag </${name}> with attributes`);
        assert.equal(stack.pop(), name, `unbalanced </${name}> at ${i}`);
      } else {
        const attrs: Record<string, string> = {};
        for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
          assert.ok(!(a[1]! in attrs), `duplicate attribute ${a[1]} on <${name}>`);
          attrs[a[1]!] = a[2]!;
        }
        els.push({ name: name!, attrs });
        if (!selfClose) stack.push(name!);
      }
      i += whole!.length;
    } else {
      if (c === '&') assert.match(svg.slice(i, i + 6), /^&(amp|lt|gt|quot|apos);/, `raw & at ${i}`);
      if (c === '>') assert.fail(`raw > in text at ${i}`);
      text += c;
      i++;
    }
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  assert.equal(text.trim(), text.trim().replace(/[<>]/g, ''));
  return els;
}

test('renderAccuracySvg: well-formed, self-contained SVG with one polyline per series and a legend', () => {
  const r = sampleResult();
  const svg = renderAccuracySvg(r);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg.trim(), /<\/svg>$/);
  const els = parseXmlish(svg);
  assert.equal(els[0]!.name, 'svg');
  assert.equal(els.filter((e) => e.name === 'svg').length, 1);
  // self-contained: no scripts, links, external fonts or stylesheets
  assert.doesNotMatch(svg, /<script|href=|@import|@font-face|url\(|<style|<image/i);
  const polylines = els.filter((e) => e.name === 'polyline');
  assert.equal(polylines.length, r.series.length);
  // every numeric attribute is a finite number
  for (const e of els) {
    for (const [k, v] of Object.entries(e.attrs)) {
      if (['x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx', 'cy', 'r', 'width', 'height', 'stroke-width'].includes(k)) {
        assert.ok(Number.isFinite(Number(v)), `<${e.name} ${k}="${v}">`);
      }
      if (k === 'points') for (const n of v.split(/[ ,]/)) assert.ok(Number.isFinite(Number(n)) && n !== '', `points value "${n}"`);
    }
  }
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  for (const s of r.series) assert.ok(svg.includes(`>${s.system}</text>`), `legend names ${s.system}`);
  assert.match(svg, /P@1 against training time/);
  assert.match(svg, /training wall-clock time \(s\)/);
  // ticks: several labelled ticks on each axis
  const tickTexts = svg.match(/<g class="tick-labels"[^]*?<\/g>/)![0].match(/<text /g)!;
  assert.ok(tickTexts.length >= 8);
  // markers: one circle per finite point
  const finitePoints = r.series.reduce((n, s) => n + s.points.filter((p) => Number.isFinite(p.p1)).length, 0);
  assert.equal(els.filter((e) => e.name === 'circle').length, finitePoints);
  // the legend's final P@1 says when it comes from a sample of the test split (quick mode)
  assert.match(svg, /full test P@1 \d\.\d{3}/);
  const quick = renderAccuracySvg({ ...r, testPoints: 19113, finalPoints: 3000 });
  assert.doesNotMatch(quick, /full test P@1/);
  assert.match(quick, /test P@1 \(3000 points\) \d\.\d{3}/);
});

test('renderAccuracySvg: points map monotonically (time -> right, P@1 -> up) and stay inside the plot area', () => {
  const r = sampleResult();
  const svg = renderAccuracySvg(r, { width: 900, height: 600 });
  const polylines = parseXmlish(svg).filter((e) => e.name === 'polyline');
  const xs: number[] = [];
  const ys: number[] = [];
  const secs: number[] = [];
  const p1s: number[] = [];
  for (let si = 0; si < r.series.length; si++) {
    const pts = polylines[si]!.attrs['points']!.trim().split(' ').map((s) => s.split(',').map(Number) as [number, number]);
    const data = r.series[si]!.points.filter((p) => Number.isFinite(p.p1));
    assert.equal(pts.length, data.length, `series ${r.series[si]!.system}`);
    for (let i = 0; i < pts.length; i++) {
      const [x, y] = pts[i]!;
      assert.ok(x >= 0 && x <= 900 && y >= 0 && y <= 600, `point ${x},${y} outside the canvas`);
      xs.push(x);
      ys.push(y);
      secs.push(data[i]!.seconds);
      p1s.push(data[i]!.p1);
    }
  }
  // across all series: the mapping is monotone in each coordinate
  for (let a = 0; a < xs.length; a++) {
    for (let b = 0; b < xs.length; b++) {
      if (secs[a]! < secs[b]!) assert.ok(xs[a]! < xs[b]!, `x not increasing: ${secs[a]}s -> ${xs[a]}, ${secs[b]}s -> ${xs[b]}`);
      if (secs[a] === secs[b]) assert.ok(Math.abs(xs[a]! - xs[b]!) < 0.02);
      if (p1s[a]! < p1s[b]!) assert.ok(ys[a]! > ys[b]!, `y not decreasing in P@1: ${p1s[a]} -> ${ys[a]}, ${p1s[b]} -> ${ys[b]}`);
    }
  }
  // linear: x is affine in seconds (check with the extreme points)
  const iMin = secs.indexOf(Math.min(...secs));
  const iMax = secs.indexOf(Math.max(...secs));
  for (let i = 0; i < xs.length; i++) {
    const expect = xs[iMin]! + ((secs[i]! - secs[iMin]!) / (secs[iMax]! - secs[iMin]!)) * (xs[iMax]! - xs[iMin]!);
    assert.ok(Math.abs(xs[i]! - expect) < 0.05, `x of ${secs[i]} s is ${xs[i]}, expected ${expect}`);
  }
});

test('renderAccuracySvg: degenerate inputs (empty series, single point, all zero) still render finite SVG', () => {
  const base = sampleResult();
  for (const series of [[], [{ system: 'x', points: [] }], [{ system: 'sublinear-lsh', points: [{ seconds: 0, p1: 0, p5: 0 }] }]]) {
    const svg = renderAccuracySvg({ ...base, series, final: {} });
    const els = parseXmlish(svg);
    assert.equal(els.filter((e) => e.name === 'polyline').length, series.length);
    assert.doesNotMatch(svg, /NaN|Infinity/);
  }
  // names with markup are escaped
  const svg = renderAccuracySvg({ ...base, dataset: 'a<b>&"c"', series: [{ system: '<sys>', points: [{ seconds: 1, p1: 0.5, p5: 0.2 }] }], final: {} });
  parseXmlish(svg);
  assert.ok(svg.includes('&lt;sys&gt;'));
});

test('niceTicks: 1/2/5 steps covering the range', () => {
  assert.deepEqual(niceTicks(1, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(61, 8);
  assert.equal(t.step, 10);
  assert.equal(t.top, 70);
  assert.equal(t.ticks.length, 8);
  const s = niceTicks(0.47, 6);
  assert.equal(s.step, 0.1);
  assert.equal(s.top, 0.5);
  assert.deepEqual(niceTicks(0, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  for (const max of [0.013, 3.7, 15.2, 600, 12345]) {
    const x = niceTicks(max, 6);
    assert.ok(x.top >= max && x.ticks[0] === 0 && x.ticks.length >= 3 && x.ticks.length <= 13, `max ${max}: ${JSON.stringify(x)}`);
    for (let i = 1; i < x.ticks.length; i++) assert.ok(Math.abs(x.ticks[i]! - x.ticks[i - 1]! - x.step) < x.step * 1e-9);
  }
});

test('renderAccuracySvg: fastText\'s runs drawn dashed with its configuration in the legend; five systems\' legends stay on the canvas', () => {
  const base = sampleResult();
  const r: AccuracyResult = {
    ...base,
    series: [
      ...base.series,
      { system: 'sublinear-defaults', points: [{ seconds: 0, p1: 0.001, p5: 0.001 }, { seconds: 30, p1: 0.4, p5: 0.2 }] },
      { system: 'fasttext', runs: true, note: 'hs, lr 0.5, 1-25 epochs', points: [{ seconds: 3.4, p1: 0.06, p5: 0.05, epochs: 1 }, { seconds: 10.5, p1: 0.42, p5: 0.24, epochs: 25 }] },
    ],
    final: { ...base.final, fasttext: { p1: 0.419, p5: 0.243, samplesPerSec: 160000, epochs: 25, threads: 2 } },
  };
  const svg = renderAccuracySvg(r);
  const els = parseXmlish(svg);
  const polylines = els.filter((e) => e.name === 'polyline');
  assert.equal(polylines.length, 5);
  const dashed = polylines.filter((e) => e.attrs['stroke-dasharray'] !== undefined);
  assert.equal(dashed.length, 1, 'only the runs are dashed');
  assert.equal(dashed[0]!.attrs['points']!.split(' ').length, 2);
  const group = svg.match(/<g class="series" data-system="fasttext">[^]*?<\/g>/)![0];
  assert.match(group, /stroke-dasharray/);
  assert.match(svg, />hs, lr 0\.5, 1-25 epochs<\/text>/);
  assert.match(svg, />each point a separate run<\/text>/);
  assert.match(svg, />160000 samples\/s, 2 threads<\/text>/);
  // every legend text inside the canvas, and no two legend lines on the same spot
  const legend = svg.match(/<g class="legend">[^]*?<\/g>/)![0];
  const ys = [...legend.matchAll(/<text x="[\d.]+" y="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(ys.every((y) => y > 0 && y < 520), `legend y ${ys.join(',')}`);
  assert.equal(new Set(ys).size, ys.length);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
});
