// The generation job's chunked row storage: rows come back in order across chunks, `done` counts only
// stored documents (a writer dropped without a flush loses its waiting rows and they are not
// counted), a job opened again resumes where its record says, and a job with other documents
// starts over. Through PlainFolderStore (the same Store contract as IndexedDB's).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlainFolderStore } from '../src/lib/store/plain-folder-store.ts';
import { storeSummary } from '../src/lib/store/store.ts';
import { jobId, listJobs, prepareJob, readDocuments, readJob, readRows, RowWriter } from './generated-rows.ts';

interface Row { doc: string; q: string }
const docs = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, text: `text ${id}` }));
const rowsOf = (id: string): Row[] => [{ doc: id, q: `${id}?` }, { doc: id, q: `${id}!` }];
let dir: string;
let store: PlainFolderStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gen-rows-'));
  store = new PlainFolderStore(dir);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('RowWriter', () => {
  it('writes chunks as rows come, and a reopened job resumes after its stored documents', async () => {
    const id = jobId({ docs, model: 'm' });
    let t = 0;
    const { writer, resumed } = await RowWriter.open<Row, { model: string }, (typeof docs)[0]>(store, { id, source: 'docs.txt', documents: docs, options: { model: 'm' } }, { chunkRows: 3, now: () => t });
    expect(resumed).toBe(false);
    await writer.add(rowsOf('a')); // 2 waiting
    await writer.add(rowsOf('b')); // 4 ≥ 3: chunk 0
    await writer.add([]); // c: nothing parsed
    t += 5000;
    await writer.add(rowsOf('d')); // the oldest waiting row is 5 s old: chunk 1
    expect(writer.job.done).toBe(4);
    // A crash now: what waits is lost and not counted.
    const reopened = await RowWriter.open<Row, { model: string }, (typeof docs)[0]>(store, { id, source: 'docs.txt', documents: docs, options: { model: 'm' } });
    expect(reopened.resumed).toBe(true);
    expect(reopened.job.done).toBe(4);
    expect((await readRows<Row>(store, id)).map((r) => r.q)).toEqual(['a?', 'a!', 'b?', 'b!', 'd?', 'd!']);
    await reopened.writer.add(rowsOf('e'));
    await reopened.writer.flush('done');
    expect((await readRows<Row>(store, id)).map((r) => r.doc)).toEqual(['a', 'a', 'b', 'b', 'd', 'd', 'e', 'e']);
    expect(await readDocuments(store, id)).toEqual(docs);
    const [job] = await listJobs(store);
    expect(job).toMatchObject({ id, done: 5, status: 'done', documents: 5, source: 'docs.txt' });
    // One group in the Storage panel.
    expect((await storeSummary(store)).map((g) => g.group)).toEqual([`dataset/local/generated:${id}`]);
  });

  it('starts a job over when its stored record has other documents', async () => {
    const id = jobId('same id');
    const first = await RowWriter.open<Row, null, (typeof docs)[0]>(store, { id, source: 'x', documents: docs, options: null });
    await first.writer.add(rowsOf('a'));
    await first.writer.flush();
    const again = await RowWriter.open<Row, null, (typeof docs)[0]>(store, { id, source: 'x', documents: docs.slice(0, 2), options: null });
    expect(again.resumed).toBe(false);
    expect(await readRows(store, id)).toEqual([]);
  });

  it('a prepared job is `new` until a writer opens it, and keeps what was generated when prepared again', async () => {
    const id = jobId('prepared');
    const init = { id, source: 'docs.txt', documents: docs, options: { model: 'm' } };
    expect(await prepareJob(store, init)).toMatchObject({ status: 'new', done: 0, documents: 5 });
    const { writer, resumed } = await RowWriter.open<Row, { model: string }, (typeof docs)[0]>(store, init);
    expect(resumed).toBe(true);
    expect(writer.job.status).toBe('running');
    await writer.add(rowsOf('a'));
    await writer.flush('cancelled');
    expect(await prepareJob(store, init)).toMatchObject({ status: 'cancelled', done: 1 });
    expect(await readRows<Row>(store, id)).toHaveLength(2);
    expect((await readJob(store, id))?.status).toBe('cancelled');
  });

  it('ids depend on every part', () => {
    expect(jobId({ a: 1 })).toBe(jobId({ a: 1 }));
    expect(jobId({ a: 1 })).not.toBe(jobId({ a: 2 }));
    expect(jobId({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });
});
