import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceWorkerFor } from './service-worker-plugin.ts';

let dir: string | null = null;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('the build\'s service worker', () => {
  it('caches every file of the build but itself and source maps, and changes version with any file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tabtune-sw-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    await writeFile(join(dir, 'assets/app-abc.js'), 'console.log(1)');
    await writeFile(join(dir, 'assets/app-abc.js.map'), '{}');
    await writeFile(join(dir, 'assets/ort.wasm'), new Uint8Array([0, 97, 115, 109]));
    await writeFile(join(dir, 'sw.js'), 'old');
    const a = await serviceWorkerFor(dir);
    expect(a.files).toEqual(['assets/app-abc.js', 'assets/ort.wasm', 'index.html']);
    expect(a.text).toContain(`const PRECACHE = ${JSON.stringify(a.files)};`);
    expect(a.text).toContain(`const VERSION = "${a.version}";`);
    expect(() => new Function(a.text)).not.toThrow(); // parses as a script
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>next</title>');
    const b = await serviceWorkerFor(dir);
    expect(b.files).toEqual(a.files);
    expect(b.version).not.toBe(a.version);
    expect((await serviceWorkerFor(dir)).version).toBe(b.version);
  });
});
