// The encoding row of `npm run bench` (also runnable alone): `tabtune embed --backend node` against
// transformers.js's `feature-extraction` pipeline on onnxruntime-node (fp32), both whole processes
// as a user starts them, on the same exported folder (`tabtune export --onnx` of a full-size random
// bge-small, shape-model.ts) and the same texts (~90-token documents), batch 32; back to back,
// alternating which goes first, repeated; medians of the wall times and the ratio ours ÷
// transformers.js (below 1: ours is faster). Also checks that the two agree (largest |Δ|).
// Prints a table and one `BENCH_EMBED {json}` line. Not a test: it asserts nothing.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BGE_SMALL_CONFIG } from '../../src/lib/models/bert-config.ts';
import { Rng } from '../../src/lib/util/rng.ts';
import { benchArgs } from './bench-args.ts';
import { longDocDataset, writeShapeModel } from './shape-model.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

export interface EmbedSpeedResult {
  texts: number;
  batchSize: number;
  repeats: number;
  /** Whole-process wall times, s, in run order. */
  oursS: number[];
  transformersJsS: number[];
  oursMedianS: number;
  transformersJsMedianS: number;
  /** ours ÷ transformers.js, medians (below 1: ours faster). */
  ratio: number;
  /** The median of each back-to-back pair's ours ÷ transformers.js: steadier when the load drifts between pairs. */
  pairRatio: number;
  /** Largest |Δ| between the two outputs' embeddings. */
  maxAbsDiff: number;
  /** 1-minute load averages before each process. */
  loads: number[];
}

function timed(args: string[]): Promise<{ s: number; load: number }> {
  const load = loadavg()[0];
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => (code === 0 ? res({ s: (performance.now() - t0) / 1000, load }) : rej(new Error(`${args.join(' ')}: exit ${code}: ${stderr.slice(-400)}`))));
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function embeddings(file: string): number[][] {
  return (JSON.parse(readFileSync(file, 'utf8')) as { embeddings: number[][] }).embeddings;
}

export async function embedSpeed(o: { texts: number; batchSize: number; repeats: number; work: string }): Promise<EmbedSpeedResult> {
  mkdirSync(o.work, { recursive: true });
  const model = join(o.work, 'small-shape');
  const exported = join(o.work, 'small-export');
  writeShapeModel(model, BGE_SMALL_CONFIG);
  if (!existsSync(join(exported, 'onnx', 'model.onnx'))) {
    await timed(['bin/tabtune.js', 'export', '--model', model, '--out', exported, '--onnx']);
  }
  // Documents drawn from the ~90-token ones, so batches hold slightly different lengths.
  const docs = longDocDataset().docs;
  const rng = new Rng(5);
  const textsFile = join(o.work, `docs-${o.texts}.txt`);
  writeFileSync(textsFile, Array.from({ length: o.texts }, () => docs[rng.int(docs.length)]).join('\n') + '\n');
  const outOurs = join(o.work, 'ours.json');
  const outTjs = join(o.work, 'transformers-js.json');
  const ours = ['bin/tabtune.js', 'embed', '--model', exported, '--texts', textsFile, '--backend', 'node', '--batch-size', String(o.batchSize), '--out', outOurs];
  const tjs = [join(HERE, 'transformers-js-embed.mjs'), '--model', exported, '--texts', textsFile, '--batch-size', String(o.batchSize), '--pooling', 'cls', '--out', outTjs];
  const oursS: number[] = [];
  const transformersJsS: number[] = [];
  const loads: number[] = [];
  for (let r = 0; r < o.repeats; r++) {
    for (const which of r % 2 ? ['ours', 'tjs'] : ['tjs', 'ours']) {
      const t = await timed(which === 'ours' ? ours : tjs);
      (which === 'ours' ? oursS : transformersJsS).push(t.s);
      loads.push(t.load);
      process.stderr.write(`embed bench: ${which === 'ours' ? 'tabtune embed' : 'transformers.js'} ${t.s.toFixed(1)} s (load ${t.load.toFixed(1)})\n`);
    }
  }
  const a = embeddings(outOurs);
  const b = embeddings(outTjs);
  let maxAbsDiff = a.length === b.length ? 0 : Infinity;
  a.forEach((row, i) => row.forEach((v, j) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - b[i][j])))));
  const oursMedianS = median(oursS);
  const transformersJsMedianS = median(transformersJsS);
  const pairRatio = median(oursS.map((s, i) => s / transformersJsS[i]));
  return { texts: o.texts, batchSize: o.batchSize, repeats: o.repeats, oursS, transformersJsS, oursMedianS, transformersJsMedianS, ratio: oursMedianS / transformersJsMedianS, pairRatio, maxAbsDiff, loads };
}

export function embedSpeedTable(r: EmbedSpeedResult): string[] {
  const s = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  return [
    `encoding: ${r.texts} documents of ~90 tokens, full-size random bge-small exported with tabtune export --onnx, batch ${r.batchSize}, onnxruntime-node fp32, whole processes, ${r.repeats} pair(s) back to back`,
    `  transformers.js feature-extraction  median ${r.transformersJsMedianS.toFixed(1)} s  (${s(r.transformersJsS)})`,
    `  tabtune embed --backend node        median ${r.oursMedianS.toFixed(1)} s  (${s(r.oursS)})`,
    `  ours ÷ transformers.js (time) ${r.ratio.toFixed(2)} of the medians, ${r.pairRatio.toFixed(2)} the median pair (below 1: ours faster); largest |Δ| between their embeddings ${r.maxAbsDiff.toExponential(1)}; load ${Math.min(...r.loads).toFixed(1)}–${Math.max(...r.loads).toFixed(1)}`,
  ];
}

async function main(): Promise<void> {
  const { values } = benchArgs('Usage: tsx tests/bench/embed-speed.ts [options]\n\ntabtune embed vs transformers.js feature-extraction (onnxruntime-node, fp32) on the same exported\nbge-small-shaped folder and texts, whole processes, back to back; prints a table and BENCH_EMBED {json}.', {
    texts: { type: 'string', default: '1024' },
    'batch-size': { type: 'string', default: '32' },
    repeats: { type: 'string', default: '3' },
    work: { type: 'string', default: join(ROOT, '.bench', 'embed') },
  });
  const r = await embedSpeed({ texts: Number(values.texts), batchSize: Number(values['batch-size']), repeats: Number(values.repeats), work: values.work! });
  process.stdout.write(`${embedSpeedTable(r).join('\n')}\nBENCH_EMBED ${JSON.stringify(r)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
