import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goldenRun, GOLDEN_CONFIGS, type GoldenRecord } from './golden.helpers.js';

/**
 * Golden values: what one thread produced for each configuration of golden.helpers.ts, recorded
 * from main at commit 8140367 (before the step executor). A change that alters them must say why
 * in its commit and re-record them once: `npm run build && GOLDEN_RECORD=1 node --test dist/test/golden.test.js`
 * prints the new values.
 */
const GOLDEN: Record<string, GoldenRecord> = {
  'lsh-topk': {
    'epochs': [
      {
        'loss': 3.464076604824637,
        'trainP1': 0.38533333333333336,
        'active': 40
      },
      {
        'loss': 2.8911618150314347,
        'trainP1': 0.514,
        'active': 40
      },
      {
        'loss': 2.665623389967397,
        'trainP1': 0.6293333333333333,
        'active': 40
      }
    ],
    'exact': {
      'p1': 0.625,
      'p3': 0.29083333333333333,
      'p5': 0.192,
      'ndcg5': 0.5172051122544844
    },
    'lsh': {
      'p1': 0.6325,
      'p3': 0.29583333333333334,
      'p5': 0.1975,
      'ndcg5': 0.5295978908633665,
      'avgCandidates': 40
    },
    'params': '42566d3086fc6466e158626b280ebb35698cca34bbc2fb43e9913a18a6422e04'
  },
  'lsh-topk-3mem': {
    'epochs': [
      {
        'loss': 3.5129837623211255,
        'trainP1': 0.38533333333333336,
        'active': 42
      },
      {
        'loss': 2.9212153804737295,
        'trainP1': 0.49133333333333334,
        'active': 42
      },
      {
        'loss': 2.688773763571888,
        'trainP1': 0.6193333333333333,
        'active': 42
      }
    ],
    'exact': {
      'p1': 0.6175,
      'p3': 0.2808333333333333,
      'p5': 0.1845,
      'ndcg5': 0.5037715338591748
    },
    'lsh': {
      'p1': 0.62,
      'p3': 0.29083333333333333,
      'p5': 0.1975,
      'ndcg5': 0.52618638199301,
      'avgCandidates': 42
    },
    'params': '118e0a3db8f169faba4d9952f56285ae11f7644b53dd3b1a2961a82351ec105b'
  },
  'lsh-union-dropout': {
    'epochs': [
      {
        'loss': 3.306979733286025,
        'trainP1': 0.45866666666666667,
        'active': 50.52733333333333
      },
      {
        'loss': 2.6660280315026075,
        'trainP1': 0.5773333333333334,
        'active': 50.38933333333333
      },
      {
        'loss': 2.5642669850873467,
        'trainP1': 0.6073333333333333,
        'active': 50.31
      }
    ],
    'exact': {
      'p1': 0.5225,
      'p3': 0.23166666666666666,
      'p5': 0.1485,
      'ndcg5': 0.4099550370896549
    },
    'lsh': {
      'p1': 0.2975,
      'p3': 0.1225,
      'p5': 0.0835,
      'ndcg5': 0.24264949885489562,
      'avgCandidates': 50.1525
    },
    'params': '6936eb1ad8ca1c6e585f2d26c14e1c248a510fd94935ab468855eea209e01424'
  },
  'dense': {
    'epochs': [
      {
        'loss': 4.943308252598545,
        'trainP1': 0.32066666666666666,
        'active': 300
      },
      {
        'loss': 3.980632477205906,
        'trainP1': 0.476,
        'active': 300
      },
      {
        'loss': 3.750697019268917,
        'trainP1': 0.5293333333333333,
        'active': 300
      }
    ],
    'exact': {
      'p1': 0.5225,
      'p3': 0.22916666666666666,
      'p5': 0.159,
      'ndcg5': 0.4261597969003191
    },
    'lsh': {
      'p1': 0.5225,
      'p3': 0.22916666666666666,
      'p5': 0.159,
      'ndcg5': 0.4261597969003191,
      'avgCandidates': 300
    },
    'params': '0ea7372c1666b33041e1d3e9687304cbb498fcab6fb0873a946115b04410d866'
  }
};

for (const name of Object.keys(GOLDEN_CONFIGS)) {
  test(`golden run '${name}' on one thread: the recorded losses, metrics and weights, bit for bit`, async () => {
    const got = await goldenRun(name, 1);
    if (process.env.GOLDEN_RECORD === '1') process.stdout.write(`# ${JSON.stringify(name)}: ${JSON.stringify(got)},\n`);
    else assert.deepEqual(got, GOLDEN[name]);
  });
}
