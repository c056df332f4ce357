import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, type FixturePaths } from '../fixtures/fixtures.ts';
import { startLocalHub, type LocalHub } from './local-hub.ts';

let paths: FixturePaths;
let hub: LocalHub;
const MODEL = 'BAAI/bge-base-en-v1.5';
const DATASET = 'YxBxRyXJx/QAsimple_for_BGE_241019';

const sha1Blob = (b: Buffer) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');
const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  paths = ensureFixtures();
  hub = await startLocalHub({
    models: { [MODEL]: paths.tinyBge, 'test/tiny-mean': paths.tinyMean, 'alias/second-name': paths.tinyBge },
    datasets: { [DATASET]: paths.qaTiny },
  });
});
afterAll(async () => hub?.close());

describe('resolve/ routes', () => {
  it('serves a small file with the Hub headers', async () => {
    const r = await fetch(`${hub.url}/${MODEL}/resolve/main/config.json`);
    const file = readFileSync(join(paths.tinyBge, 'config.json'));
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(file)).toBe(true);
    expect(r.headers.get('etag')).toBe(`"${sha1Blob(file)}"`);
    expect(r.headers.get('x-repo-commit')).toBe(hub.commitOf('model', MODEL));
    expect(r.headers.get('x-repo-commit')).toMatch(/^[0-9a-f]{40}$/);
    expect(r.headers.get('content-length')).toBe(String(file.byteLength));
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(r.headers.get('x-linked-size')).toBeNull();
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers LFS files with a 302 carrying X-Linked-Size / X-Linked-ETag, and the CDN serves the bytes', async () => {
    const file = readFileSync(join(paths.tinyBge, 'model.safetensors'));
    const head = await fetch(`${hub.url}/${MODEL}/resolve/main/model.safetensors`, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(302);
    expect(head.headers.get('x-linked-size')).toBe(String(file.byteLength));
    expect(head.headers.get('x-linked-etag')).toBe(`"${sha256(file)}"`);
    expect(head.headers.get('x-repo-commit')).toBe(hub.commitOf('model', MODEL));
    expect(head.headers.get('location')).toContain(`/cdn/${sha256(file)}/model.safetensors`);
    const got = await fetch(`${hub.url}/${MODEL}/resolve/main/model.safetensors`);
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(sha256(file));
  });

  it('supports Range requests (a-b, a-, -n) and refuses unsatisfiable ones', async () => {
    const file = readFileSync(join(paths.tinyBge, 'model.safetensors'));
    const url = `${hub.url}/${MODEL}/resolve/main/model.safetensors`;
    const r1 = await fetch(url, { headers: { Range: 'bytes=0-7' } });
    expect(r1.status).toBe(206);
    expect(r1.headers.get('content-range')).toBe(`bytes 0-7/${file.byteLength}`);
    expect(Buffer.from(await r1.arrayBuffer()).equals(file.subarray(0, 8))).toBe(true);
    const r2 = await fetch(url, { headers: { Range: `bytes=${file.byteLength - 100}-` } });
    expect(r2.status).toBe(206);
    expect(Buffer.from(await r2.arrayBuffer()).equals(file.subarray(file.byteLength - 100))).toBe(true);
    const r3 = await fetch(url, { headers: { Range: 'bytes=-10' } });
    expect(r3.headers.get('content-range')).toBe(`bytes ${file.byteLength - 10}-${file.byteLength - 1}/${file.byteLength}`);
    expect(Buffer.from(await r3.arrayBuffer()).equals(file.subarray(file.byteLength - 10))).toBe(true);
    const r4 = await fetch(url, { headers: { Range: `bytes=${file.byteLength}-` } });
    expect(r4.status).toBe(416);
    expect(r4.headers.get('content-range')).toBe(`bytes */${file.byteLength}`);
  });

  it('gives the Hub 404s: repo, revision, entry', async () => {
    const repo = await fetch(`${hub.url}/nobody/nothing/resolve/main/config.json`);
    expect(repo.status).toBe(404);
    expect(repo.headers.get('x-error-code')).toBe('RepositoryNotFound');
    expect(await repo.json()).toEqual({ error: 'Repository not found' });
    const rev = await fetch(`${hub.url}/${MODEL}/resolve/v9/config.json`);
    expect(rev.headers.get('x-error-code')).toBe('RevisionNotFound');
    const entry = await fetch(`${hub.url}/${MODEL}/resolve/main/pytorch_model.bin`);
    expect(entry.status).toBe(404);
    expect(entry.headers.get('x-error-code')).toBe('EntryNotFound');
    expect(await entry.json()).toEqual({ error: 'Entry not found' });
    const bySha = await fetch(`${hub.url}/${MODEL}/resolve/${hub.commitOf('model', MODEL)}/1_Pooling/config.json`);
    expect(bySha.status).toBe(200);
    expect((await bySha.json()).pooling_mode_cls_token).toBe(true);
  });

  it('serves one folder under several repo names, and data set files under /datasets/', async () => {
    const a = await (await fetch(`${hub.url}/alias/second-name/resolve/main/vocab.txt`)).text();
    expect(a).toBe(readFileSync(join(paths.tinyBge, 'vocab.txt'), 'utf8'));
    expect(hub.commitOf('model', 'alias/second-name')).not.toBe(hub.commitOf('model', MODEL));
    const mean = await (await fetch(`${hub.url}/test/tiny-mean/resolve/main/modules.json`)).json();
    expect(mean.map((m: { path: string }) => m.path)).toEqual(['', '1_Pooling']);
    const pq = await fetch(`${hub.url}/datasets/${DATASET}/resolve/main/data/train-00000-of-00001.parquet`);
    expect(pq.status).toBe(200);
    expect(pq.redirected).toBe(true);
    expect(Buffer.from(await pq.arrayBuffer()).equals(readFileSync(join(paths.qaTiny, 'data/train-00000-of-00001.parquet')))).toBe(true);
  });
});

describe('JSON API', () => {
  it('model info and revision info list the siblings', async () => {
    const info = await (await fetch(`${hub.url}/api/models/${MODEL}`)).json();
    expect(info.id).toBe(MODEL);
    expect(info.sha).toBe(hub.commitOf('model', MODEL));
    const names = info.siblings.map((s: { rfilename: string }) => s.rfilename).sort();
    expect(names).toEqual([
      '1_Pooling/config.json', 'README.md', 'config.json', 'config_sentence_transformers.json', 'model.safetensors',
      'modules.json', 'sentence_bert_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt',
    ]);
    expect(info.config).toEqual({ architectures: ['BertModel'], model_type: 'bert' });
    const rev = await fetch(`${hub.url}/api/models/${MODEL}/revision/main`);
    expect((await rev.json()).sha).toBe(info.sha);
    const bad = await fetch(`${hub.url}/api/models/${MODEL}/revision/nope`);
    expect(bad.status).toBe(404);
    const blobs = await (await fetch(`${hub.url}/api/models/${MODEL}?blobs=true`)).json();
    const st = blobs.siblings.find((s: { rfilename: string }) => s.rfilename === 'model.safetensors');
    expect(st.lfs.sha256).toBe(sha256(readFileSync(join(paths.tinyBge, 'model.safetensors'))));
    const none = await fetch(`${hub.url}/api/models/nobody/nothing`);
    expect(none.status).toBe(404);
    expect(none.headers.get('x-error-code')).toBe('RepositoryNotFound');
  });

  it('tree lists files with oids, LFS entries with sha256 and pointer size', async () => {
    const top = await (await fetch(`${hub.url}/api/models/${MODEL}/tree/main`)).json();
    const byPath = new Map(top.map((e: { path: string }) => [e.path, e]));
    expect(byPath.get('1_Pooling')).toMatchObject({ type: 'directory' });
    expect(byPath.has('1_Pooling/config.json')).toBe(false);
    const cfg = readFileSync(join(paths.tinyBge, 'config.json'));
    expect(byPath.get('config.json')).toEqual({ type: 'file', oid: sha1Blob(cfg), size: cfg.byteLength, path: 'config.json' });
    const st = byPath.get('model.safetensors') as { lfs: { oid: string; size: number; pointerSize: number }; size: number };
    const stBytes = readFileSync(join(paths.tinyBge, 'model.safetensors'));
    expect(st.lfs.oid).toBe(sha256(stBytes));
    expect(st.lfs.size).toBe(stBytes.byteLength);
    expect(st.lfs.pointerSize).toBe(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(stBytes)}\nsize ${stBytes.byteLength}\n`.length);
    const rec = await (await fetch(`${hub.url}/api/models/${MODEL}/tree/main?recursive=true`)).json();
    expect(rec.map((e: { path: string }) => e.path)).toContain('1_Pooling/config.json');
    const sub = await (await fetch(`${hub.url}/api/models/${MODEL}/tree/main/1_Pooling`)).json();
    expect(sub.map((e: { path: string }) => e.path)).toEqual(['1_Pooling/config.json']);
  });

  it('data set info, parquet listing and the refs/convert/parquet redirect', async () => {
    const info = await (await fetch(`${hub.url}/api/datasets/${DATASET}`)).json();
    expect(info.id).toBe(DATASET);
    expect(info.siblings.map((s: { rfilename: string }) => s.rfilename)).toContain('data/test-00000-of-00001.parquet');
    const listing = await (await fetch(`${hub.url}/api/datasets/${DATASET}/parquet`)).json();
    expect(Object.keys(listing)).toEqual(['default']);
    expect(Object.keys(listing.default)).toEqual(['train', 'test']);
    expect(listing.default.train).toEqual([`${hub.url}/api/datasets/${DATASET}/parquet/default/train/0.parquet`]);
    expect(await (await fetch(`${hub.url}/api/datasets/${DATASET}/parquet/default/test`)).json()).toEqual(listing.default.test);
    const hop = await fetch(listing.default.test[0], { redirect: 'manual' });
    expect(hop.status).toBe(302);
    expect(hop.headers.get('location')).toBe(`${hub.url}/datasets/${DATASET}/resolve/refs%2Fconvert%2Fparquet/default/test/0000.parquet`);
    const buf = await (await fetch(listing.default.test[0])).arrayBuffer();
    const rows = await parquetReadObjects({ file: buf });
    expect(rows).toHaveLength(40);
    expect(Object.keys(rows[0]).sort()).toEqual(['doc', 'id', 'question']);
    const tree = await (await fetch(`${hub.url}/api/datasets/${DATASET}/tree/refs%2Fconvert%2Fparquet/default/train`)).json();
    expect(tree.map((e: { path: string }) => e.path)).toEqual(['default/train/0000.parquet']);
  });
});

describe('dataset viewer API (/datasets-server)', () => {
  const ds = () => `${hub.datasetsServerUrl}`;
  it('splits, rows with offset/length, parquet, errors', async () => {
    const splits = await (await fetch(`${ds()}/splits?dataset=${encodeURIComponent(DATASET)}`)).json();
    expect(splits.splits).toEqual([
      { dataset: DATASET, config: 'default', split: 'train' },
      { dataset: DATASET, config: 'default', split: 'test' },
    ]);
    const page = await (await fetch(`${ds()}/rows?dataset=${encodeURIComponent(DATASET)}&config=default&split=train&offset=150&length=100`)).json();
    expect(page.num_rows_total).toBe(160);
    expect(page.rows).toHaveLength(10);
    expect(page.rows[0].row_idx).toBe(150);
    const jsonl = readFileSync(join(paths.qaTiny, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(page.rows[0].row).toEqual(jsonl[150]);
    expect(page.features.map((f: { name: string; type: { dtype: string } }) => [f.name, f.type.dtype])).toEqual([
      ['question', 'string'], ['doc', 'string'], ['id', 'int64'],
    ]);
    const tooMany = await fetch(`${ds()}/rows?dataset=${encodeURIComponent(DATASET)}&config=default&split=train&offset=0&length=101`);
    expect(tooMany.status).toBe(422);
    const missing = await fetch(`${ds()}/splits?dataset=nobody/nothing`);
    expect(missing.status).toBe(404);
    const pq = await (await fetch(`${ds()}/parquet?dataset=${encodeURIComponent(DATASET)}`)).json();
    expect(pq.parquet_files.map((f: { split: string }) => f.split)).toEqual(['train', 'test']);
    expect((await fetch(pq.parquet_files[0].url)).status).toBe(200);
  });
});

describe('fault injection and logging', () => {
  it('cuts the first body of a file after N bytes; a Range resume gets the rest', async () => {
    const file = readFileSync(join(paths.tinyBge, 'model.safetensors'));
    hub.setFaults({ afterBytes: 1000, match: /model\.safetensors$/ });
    try {
      const before = hub.requests.length;
      const url = `${hub.url}/${MODEL}/resolve/main/model.safetensors`;
      const r = await fetch(url);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-length')).toBe(String(file.byteLength));
      const reader = r.body!.getReader();
      let got = 0;
      const parts: Uint8Array[] = [];
      await expect(
        (async () => {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            got += value.byteLength;
            parts.push(value);
          }
        })(),
      ).rejects.toThrow();
      expect(got).toBe(1000);
      const cut = hub.requests.slice(before).find((e) => e.cut)!;
      expect(cut).toMatchObject({ file: 'model.safetensors', bytesSent: 1000, status: 200 });

      const rest = await fetch(url, { headers: { Range: `bytes=${got}-` } });
      expect(rest.status).toBe(206);
      const tail = new Uint8Array(await rest.arrayBuffer());
      const whole = Buffer.concat([...parts, tail]);
      expect(whole.equals(file)).toBe(true);
      const last = hub.requests[hub.requests.length - 1];
      expect(last).toMatchObject({ cut: false, bytesSent: file.byteLength - 1000, range: 'bytes=1000-' });

      // other files were not affected
      expect((await fetch(`${hub.url}/${MODEL}/resolve/main/vocab.txt`)).ok).toBe(true);
    } finally {
      hub.setFaults(null);
    }
  });

  it('failAfterBytes applies to the first request of every file; latencyMs delays responses', async () => {
    const slow = await startLocalHub({ models: { 'a/b': paths.tinyBge }, failAfterBytes: 10, latencyMs: 150, lfsRedirect: false });
    try {
      const t0 = performance.now();
      const first = await fetch(`${slow.url}/a/b/resolve/main/vocab.txt`);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
      await expect(first.text()).rejects.toThrow();
      const second = await fetch(`${slow.url}/a/b/resolve/main/vocab.txt`);
      expect(await second.text()).toBe(readFileSync(join(paths.tinyBge, 'vocab.txt'), 'utf8'));
      const direct = await fetch(`${slow.url}/a/b/resolve/main/model.safetensors`, { redirect: 'manual' });
      expect(direct.status).toBe(200);
      expect(direct.headers.get('x-linked-size')).toBe(String(readFileSync(join(paths.tinyBge, 'model.safetensors')).byteLength));
      await expect(direct.arrayBuffer()).rejects.toThrow();
      expect(slow.requests.filter((e) => e.cut).map((e) => e.file)).toEqual(['vocab.txt', 'model.safetensors']);
    } finally {
      await slow.close();
    }
  });
});
