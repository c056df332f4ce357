// Two facts about onnxruntime-web's WebGPU EP's buffers that the memory account and the runtime
// rely on, measured in Node on Dawn (dawn.ts) by counting every GPUDevice.createBuffer:
// 1. An embedding table's gradient is ScatterND-add onto zeros of the table's shape
//    (src/lib/ops/shape.ts gather); onnxruntime folds those zeros into a session constant that it
//    keeps in a GPU buffer from the session's load on — the account's "zeros the embedding
//    gradients start from" (src/lib/train/memory.ts).
// 2. Under lazyRelease, an output we dispose between runs stays allocated until onnxruntime's next
//    run ends, so that run holds it beside its own; WebGpuRuntime ends such releases with a
//    one-element run first (PENDING_RELEASE_FLUSH_BYTES in src/lib/runtime/webgpu-runtime.ts).
// Prints one JSON line. Run with a Vulkan driver in the environment
// (webgpu-buffer-facts.test.ts starts it on SwiftShader):
//
//   node --liftoff-only --import tsx tests/bench/webgpu-buffer-facts.ts [rows] [width]

import type { DeviceTensor } from '../../src/lib/runtime/types.ts';
import { benchArgs } from './bench-args.ts';
import { dawnRuntime } from './dawn.ts';

benchArgs('Usage: node --liftoff-only --import tsx tests/bench/webgpu-buffer-facts.ts [rows] [width]\n\nCounts the GPU buffers onnxruntime-web\'s WebGPU EP creates for an embedding table\'s gradient (rows × width,\ndefault 30522 × 768) on Dawn; prints one JSON line. Needs a Vulkan driver.', {}, process.argv.slice(2), true);

const { runtime: rt, gpuMemory: memory } = await dawnRuntime();
const { Graph } = await import('../../src/lib/graph/graph.ts');
const { toOnnx } = await import('../../src/lib/graph/onnx.ts');
const { gather } = await import('../../src/lib/ops/shape.ts');
const { gradients } = await import('../../src/lib/autodiff/grad.ts');

const V = Number(process.argv[2] ?? 30522);
const H = Number(process.argv[3] ?? 768);
const N = 64;
const g = new Graph('embedding-gradient');
const table = g.input('table', 'float32', [V, H]);
const ids = g.input('ids', 'int64', [N, 1]);
const dy = g.input('dy', 'float32', [N, H]);
g.output(gradients(g, gather(table, ids), [table], dy)[0], 'dtable');

const tableBytes = 4 * V * H;
const feeds = {
  table: await rt.upload({ dtype: 'float32', dims: [V, H], data: new Float32Array(V * H) }),
  ids: { dtype: 'int64' as const, dims: [N, 1], data: BigInt64Array.from({ length: N }, (_, i) => BigInt((i * 37) % V)) },
  dy: { dtype: 'float32' as const, dims: [N, H], data: new Float32Array(N * H).fill(1) },
};
const beforeLoad = memory.liveBytes;
const session = await rt.load(toOnnx(g));
const afterLoad = memory.liveBytes - beforeLoad;

const run = () => session.run(feeds, ['dtable'], { keepOnDevice: ['dtable'] });
const first = await run();
const gradient = await rt.download(first.dtable as DeviceTensor);
// Each id row got one update of ones: a check that the gradient itself is right.
const gradientSum = (gradient.data as Float32Array).reduce((a, b) => a + b, 0);
// Disposing the first run's output frees nothing yet (onnxruntime waits for a run to end) ...
const beforeDispose = memory.liveBytes;
rt.dispose(first.dtable as DeviceTensor);
const freedByDispose = beforeDispose - memory.liveBytes;
// ... and the second run must not hold it beside its own output: the runtime ends it first.
memory.resetPeak();
const second = await run();
const secondRunAdded = memory.peakBytes - (beforeDispose - freedByDispose);
rt.dispose(second.dtable as DeviceTensor);
process.stdout.write(`${JSON.stringify({ tableBytes, afterLoad, gradientSum, expectedSum: N * H, freedByDispose, secondRunAdded })}\n`);
process.exit(0);
