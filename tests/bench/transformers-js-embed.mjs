// The baseline of the encoding bench (embed-speed.ts): what a new user of transformers.js writes
// to embed a file of texts with an exported model folder — `pipeline('feature-extraction', …)`
// in Node (onnxruntime-node, fp32), `{ pooling, normalize: true }`, a fixed batch size in input
// order. Plain JavaScript run by plain `node`, as that user would (through tsx's loader
// transformers.js loads several times slower: bin/tabtune.js). Not a test and not our code path.
//
//   node tests/bench/transformers-js-embed.mjs --model DIR --texts FILE [--batch-size 32]
//     [--pooling cls|mean] [--device cpu|wasm] [--out FILE]
// Prints `BENCH_TJS {"loadMs", "embedMs", "texts", "dim"}` on stdout; --out writes the embeddings
// as `tabtune embed` does ({"dim": D, "embeddings": [[…], …]}).

import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `Usage: node tests/bench/transformers-js-embed.mjs --model DIR --texts FILE [options]

Embeds one text per line with transformers.js's feature-extraction pipeline (the encoding bench's baseline).

Options:
  --model DIR        a model folder with onnx/model.onnx (tabtune export --onnx)
  --texts FILE       one text per line
  --batch-size N     texts per pipeline call (default 32)
  --pooling MODE     cls (default) or mean
  --device KIND      cpu (onnxruntime-node; default) or wasm (onnxruntime-web)
  --out FILE         write the embeddings as JSON
  -h, --help         show this help`;

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, texts: { type: 'string' }, 'batch-size': { type: 'string', default: '32' },
    pooling: { type: 'string', default: 'cls' }, device: { type: 'string', default: 'cpu' }, out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (!values.model || !values.texts) {
  console.error(`--model and --texts are required\n\n${HELP}`);
  process.exit(2);
}
const batchSize = Number(values['batch-size']);
if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${values['batch-size']}`);

const t0 = performance.now();
const { pipeline, env } = await import('@huggingface/transformers');
env.allowRemoteModels = false;
env.localModelPath = `${dirname(resolve(values.model))}/`;
const texts = readFileSync(values.texts, 'utf8').replace(/\n$/, '').split('\n');
const extractor = await pipeline('feature-extraction', basename(resolve(values.model)), { dtype: 'fp32', device: values.device });
const t1 = performance.now();
const rows = [];
let dim = 0;
for (let i = 0; i < texts.length; i += batchSize) {
  const out = await extractor(texts.slice(i, i + batchSize), { pooling: values.pooling, normalize: true });
  dim = out.dims[1];
  for (let b = 0; b < out.dims[0]; b++) rows.push(out.data.subarray(b * dim, (b + 1) * dim));
}
const t2 = performance.now();
if (values.out) writeFileSync(values.out, `{"dim":${dim},"embeddings":[\n${rows.map((r) => `[${Array.from(r).join(',')}]`).join(',\n')}\n]}\n`);
console.log(`BENCH_TJS ${JSON.stringify({ loadMs: t1 - t0, embedMs: t2 - t1, texts: rows.length, dim })}`);
await extractor.dispose();
