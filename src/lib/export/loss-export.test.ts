// Every loss type through the model card and train.py: Python's `ast` reads each generated script
// back and the loss it constructs must be the sentence-transformers class this test expects for
// the type (a table written here from sentence-transformers' own signatures, independent of the
// records), with those keyword arguments and the run config's values — plain, with GradCache
// mini-batches (the Cached class where there is one) and inside MatryoshkaLoss. A type the card or
// the script did not know (a fallthrough to another loss) fails here, and so does a new loss type
// without a row in the table.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOSS_RECORDS, LOSS_TYPES, type LossType } from '../losses/records.ts';
import { parseRunConfig, type RunConfig } from '../train/run-config.ts';
import { modelCard } from './model-card.ts';
import { trainScript } from './python-script.ts';
import { readTrainScripts } from '../../../tests/reference/read-train-py.ts';

type Py = number | string | null | Py[];

interface Expected {
  /** Non-default parameters, so a default that leaks in is caught too. */
  loss: Record<string, unknown>;
  class: string;
  /** The Cached (GradCache) class sentence-transformers has for it, if tabtune writes one. */
  cached?: string;
  /** Keyword → value as the script must pass it (a module constant's value, or a dotted name). */
  kwargs: Record<string, Py>;
  card: string;
}

// sentence-transformers' losses: MultipleNegativesRankingLoss(model, scale=20.0, …),
// CachedMultipleNegativesRankingLoss(model, scale=20.0, …, mini_batch_size=32, …),
// MultipleNegativesSymmetricRankingLoss(model, scale=20.0, …), CoSENTLoss(model, …, scale=20.0),
// TripletLoss(model, distance_metric=TripletDistanceMetric.EUCLIDEAN, triplet_margin=5),
// MatryoshkaLoss(model, loss, matryoshka_dims, matryoshka_weights=None, …).
const EXPECTED: Record<LossType, Expected> = {
  mnrl: {
    loss: { scale: 33 }, class: 'MultipleNegativesRankingLoss', cached: 'CachedMultipleNegativesRankingLoss',
    kwargs: { scale: 33 }, card: 'MultipleNegativesRankingLoss (scale 33)',
  },
  mnrl_symmetric: {
    loss: { scale: 12.5 }, class: 'MultipleNegativesSymmetricRankingLoss', kwargs: { scale: 12.5 }, card: 'MultipleNegativesSymmetricRankingLoss (scale 12.5)',
  },
  triplet: {
    loss: { margin: 0.25, distance: 'cosine' }, class: 'TripletLoss',
    kwargs: { distance_metric: 'losses.TripletDistanceMetric.COSINE', triplet_margin: 0.25 }, card: 'TripletLoss (cosine, margin 0.25)',
  },
  cosent: { loss: { scale: 7 }, class: 'CoSENTLoss', kwargs: { scale: 7 }, card: 'CoSENTLoss (scale 7)' },
};

const work = mkdtempSync(join(tmpdir(), 'tabtune-loss-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Case {
  type: LossType;
  config: RunConfig;
  variant: 'plain' | 'gradcache' | 'matryoshka';
}

const cases: Case[] = LOSS_TYPES.flatMap((type) => {
  const loss = { type, ...EXPECTED[type].loss };
  return [
    { type, variant: 'plain', config: parseRunConfig({ loss }) },
    { type, variant: 'gradcache', config: parseRunConfig({ loss, gradCache: { miniBatchSize: 4 } }) },
    { type, variant: 'matryoshka', config: parseRunConfig({ loss: { ...loss, matryoshka: { dims: [64, 32], weights: [1, 0.5] } } }) },
  ] satisfies Case[];
});

describe('every loss type through the card and train.py', () => {
  it('has an expected sentence-transformers constructor for each loss type, and each record names that class', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...LOSS_TYPES].sort());
    for (const t of LOSS_TYPES) {
      expect(LOSS_RECORDS[t].sentenceTransformers.class, t).toBe(EXPECTED[t].class);
      expect(LOSS_RECORDS[t].sentenceTransformers.cached, t).toBe(EXPECTED[t].cached);
    }
  });

  it('train.py constructs the expected class with the config\'s parameters (ast)', () => {
    const paths = cases.map((c, i) => {
      const p = join(work, `train_${i}_${c.type}_${c.variant}.py`);
      writeFileSync(p, trainScript(c.config));
      return p;
    });
    const read = readTrainScripts(paths);
    expect(read).toHaveLength(cases.length);
    cases.forEach((c, i) => {
      const what = `${c.type} (${c.variant})`;
      const want = EXPECTED[c.type];
      const { consts, assignments } = read[i];
      const calls = assignments.filter((a) => a.target === 'loss').map((a) => a.call);
      expect(consts.LOSS, what).toBe(c.type);
      const cls = c.variant === 'gradcache' && want.cached ? want.cached : want.class;
      const kwargs = { ...want.kwargs, ...(cls === want.cached ? { mini_batch_size: 4 } : {}) };
      expect(calls[0], what).toEqual({ func: `losses.${cls}`, args: ['model'], kwargs });
      if (c.variant === 'matryoshka') {
        expect(calls[1], what).toEqual({ func: 'losses.MatryoshkaLoss', args: ['model', 'loss'], kwargs: { matryoshka_dims: [64, 32], matryoshka_weights: [1, 0.5] } });
        expect(calls, what).toHaveLength(2);
      } else expect(calls, what).toHaveLength(1);
    });
  });

  it('the card names the same loss with the config\'s parameters, and tags its type', () => {
    for (const c of cases) {
      const what = `${c.type} (${c.variant})`;
      const want = EXPECTED[c.type];
      const card = modelCard({ name: 'run', config: c.config, before: null, after: null, step: 3, baseModel: c.config.model.id, dataSource: c.config.data.source });
      const text = c.variant === 'matryoshka' ? `MatryoshkaLoss over ${want.card}, dims 64, 32` : want.card;
      expect(card, what).toContain(`\n- Loss: ${text}\n`);
      expect(card, what).toContain(`with ${text}, for 3 optimizer updates`);
      expect(card, what).toContain(`\n- "loss:${c.type}"\n`);
      // Only this type's sentence-transformers class appears among the loss names.
      for (const other of LOSS_TYPES) if (EXPECTED[other].class !== want.class) expect(card, `${what} names ${other}`).not.toContain(`${EXPECTED[other].class} (`);
    }
  });
});
