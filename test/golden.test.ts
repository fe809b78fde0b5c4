import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goldenRun, GOLDEN_CONFIGS, type GoldenRecord } from './golden.helpers.js';

/**
 * Golden values: what one thread produced for each configuration of golden.helpers.ts, recorded
 * from main at commit 8140367 (before the step executor). 'lsh-union-dropout' was re-recorded
 * once, when every sample's random draws (padding, dropout) began to come from a generator
 * restarted from (run, step, row) in training and from the query's features in inference,
 * instead of a per-thread stream: what makes N threads equal one. 'lsh-mixed' was recorded when
 * training's candidates could be ranked half by estimated logit (activeSet.trainRank); its LSH
metrics once more when inference's floor of votes rose by a standard deviation of chance (its
queries then fill their cap from every voted label more often: P@5 0.202 -> 0.2025; training,
losses and weights unchanged). A change that alters them must say why
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
  'lsh-mixed': {
    'epochs': [
      {
        'loss': 3.4643700003893185,
        'trainP1': 0.37666666666666665,
        'active': 40
      },
      {
        'loss': 2.9009167551657584,
        'trainP1': 0.496,
        'active': 40
      },
      {
        'loss': 2.6702182839728286,
        'trainP1': 0.616,
        'active': 40
      }
    ],
    'exact': {
      'p1': 0.6275,
      'p3': 0.3016666666666667,
      'p5': 0.202,
      'ndcg5': 0.5346763064187892
    },
    'lsh': {
      'p1': 0.6275,
      'p3': 0.2991666666666667,
      'p5': 0.2025,
      'ndcg5': 0.5359946057358738,
      'avgCandidates': 60
    },
    'params': '5f53fb534b3f47e1882e2a466e21974f65056ce6de4b856a3cb48ff673fb7e21'
  },
  'lsh-union-dropout': {
    'epochs': [
      {
        'loss': 3.28709758312198,
        'trainP1': 0.49133333333333334,
        'active': 50.303333333333335
      },
      {
        'loss': 2.638695332206014,
        'trainP1': 0.584,
        'active': 50.36266666666667
      },
      {
        'loss': 2.5322937387574416,
        'trainP1': 0.602,
        'active': 50.33866666666667
      }
    ],
    'exact': {
      'p1': 0.5025,
      'p3': 0.22416666666666665,
      'p5': 0.151,
      'ndcg5': 0.4049744510660357
    },
    'lsh': {
      'p1': 0.3375,
      'p3': 0.13333333333333333,
      'p5': 0.0855,
      'ndcg5': 0.25899418876370744,
      'avgCandidates': 50.16
    },
    'params': '49901691fea4fe8c2b9a4b1a86a95ef2dcfa2e8c47af8f93f590d49598f12f74'
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
