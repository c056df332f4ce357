import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PlainFolderStore } from '../store/plain-folder-store.ts';
import { checkpointKey, type RunRecord, withNewestCheckpoint } from './record.ts';

const root = mkdtempSync(join(tmpdir(), 'tabtune-record-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const record = (over: Partial<RunRecord>) => ({ status: 'running', step: 20, maxSteps: 400, checkpointStep: 20, ...over }) as RunRecord;

describe('withNewestCheckpoint', () => {
  it('names the checkpoint a resume will read when a closed tab left the record one behind', async () => {
    const store = new PlainFolderStore(join(root, 'a'));
    await store.set(checkpointKey(20), new Uint8Array(4));
    expect(await withNewestCheckpoint(store, record({}))).toMatchObject({ checkpointStep: 20, step: 20 });
    // Checkpoint 22 was committed, the record naming it was not.
    await store.set(checkpointKey(22), new Uint8Array(4));
    expect(await withNewestCheckpoint(store, record({}))).toMatchObject({ checkpointStep: 22, step: 22 });
    expect(await withNewestCheckpoint(store, record({ checkpointStep: null, step: 21 }))).toMatchObject({ checkpointStep: 22, step: 22 });
    // Progress past the checkpoint is kept; a finished run is left as it is.
    expect(await withNewestCheckpoint(store, record({ step: 30, checkpointStep: 22 }))).toMatchObject({ checkpointStep: 22, step: 30 });
    expect(await withNewestCheckpoint(store, record({ status: 'done', checkpointStep: null }))).toMatchObject({ checkpointStep: null });
  });
});
