// `npm run bench:gpu-pack`: what a GPU machine with a driver but no Node, browser or network needs
// to run the WebGPU bench (../shared/GPU.md), in one ignored folder that the device tool carries
// (64 MiB at most): dawn-bench.ts bundled into one file (bench.mjs, onnxruntime-web's WebGPU build
// inside), and xz-compressed: this Node binary, Dawn's dawn.node, the WASM onnxruntime's WebGPU
// build loads (and its loader), and a Vulkan loader (Chromium's libvulkan.so.1) for a machine without one.
// tests/bench/gpu-machine.sh unpacks and runs it there; MANIFEST.txt says what is in it.
//
//   npm run bench:gpu-pack [-- --out .gpu-pack] [--level 6]
//
// Not the bench (dawn-bench.ts) and not run on the GPU machine.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { dawnNodePath } from './dawn.ts';
import { benchArgs } from './bench-args.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** What the device tool carries beside the working tree. */
export const PACK_LIMIT_BYTES = 64 * 2 ** 20;
/** What onnxruntime-web's WebGPU build loads from beside itself in Node: its WASM binary and that binary's loader. */
const ORT_WEBGPU_FILES = ['ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.mjs'];
const VULKAN_LOADER = '/usr/lib/chromium/libvulkan.so.1';

export interface PackEntry {
  file: string;
  bytes: number;
  from: string;
}

export async function makeGpuPack(out: string, level = 6, log: (s: string) => void = () => {}): Promise<PackEntry[]> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const entries: PackEntry[] = [];
  const add = (file: string, from: string) => entries.push({ file, bytes: statSync(join(out, file)).size, from });

  log('bundling tests/bench/dawn-bench.ts');
  await build({
    entryPoints: [join(ROOT, 'tests/bench/dawn-bench.ts')],
    outfile: join(out, 'bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: { js: "import { createRequire as __tabtuneRequire } from 'node:module'; const require = __tabtuneRequire(import.meta.url);" },
  });
  add('bench.mjs', 'tests/bench/dawn-bench.ts, bundled');

  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu'));
  const sources: [string, string][] = [
    [process.execPath, 'node'],
    [dawnNodePath(), 'dawn.node'],
    ...ORT_WEBGPU_FILES.map((f): [string, string] => [join(ortDist, f), f]),
    ...(existsSync(VULKAN_LOADER) ? [[VULKAN_LOADER, 'libvulkan.so.1'] as [string, string]] : []),
  ];
  for (const [from, name] of sources) {
    log(`compressing ${from}`);
    const xz = spawnSync('xz', ['-T2', `-${level}`, '-c', from], { maxBuffer: 2 * PACK_LIMIT_BYTES });
    if (xz.status !== 0) throw new Error(`xz ${from}: ${xz.error?.message ?? xz.stderr.toString()}`);
    writeFileSync(join(out, `${name}.xz`), xz.stdout);
    add(`${name}.xz`, `${from} (${statSync(from).size.toLocaleString('en-US')} bytes, sha256 ${createHash('sha256').update(readFileSync(from)).digest('hex').slice(0, 16)}…)`);
  }
  const total = entries.reduce((n, e) => n + e.bytes, 0);
  writeFileSync(join(out, 'MANIFEST.txt'), [
    `tabtune GPU pack, made ${new Date().toISOString()} by tests/bench/gpu-pack.ts (Node ${process.version}); run it with tests/bench/gpu-machine.sh`,
    ...entries.map((e) => `${e.file}\t${e.bytes}\t${e.from}`),
    `total\t${total}`,
  ].join('\n') + '\n');
  if (total > PACK_LIMIT_BYTES) throw new Error(`the GPU pack is ${(total / 2 ** 20).toFixed(1)} MiB, over the ${PACK_LIMIT_BYTES / 2 ** 20} MiB the device tool carries`);
  return entries;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = benchArgs('Usage: npm run bench:gpu-pack -- [options]\n\nPacks what a GPU machine without Node, a browser or a network needs to run the WebGPU bench into --out\n(--level: its gzip level).', { out: { type: 'string', default: join(ROOT, '.gpu-pack') }, level: { type: 'string', default: '6' } });
  const entries = await makeGpuPack(values.out!, Number(values.level), (s) => process.stderr.write(`gpu pack: ${s}\n`));
  for (const e of entries) process.stdout.write(`${basename(e.file).padEnd(42)} ${(e.bytes / 2 ** 20).toFixed(1).padStart(6)} MiB\n`);
  process.stdout.write(`${'total'.padEnd(42)} ${(entries.reduce((n, e) => n + e.bytes, 0) / 2 ** 20).toFixed(1).padStart(6)} MiB (limit ${PACK_LIMIT_BYTES / 2 ** 20}) in ${values.out}\n`);
}
