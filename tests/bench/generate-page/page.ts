// The generation bench's page: starts the bench worker (worker.ts) as the app starts its workers
// (a module worker, comlink) and exposes `window.bench.run(request)` to the Node side
// (generate-bench.ts), which calls it through Playwright. Nothing else: no UI.

import * as Comlink from 'comlink';
import type { GenerateBenchWorker } from './worker.ts';

const worker = Comlink.wrap<GenerateBenchWorker>(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
(globalThis as unknown as { bench: GenerateBenchWorker }).bench = { run: (req) => worker.run(req) };
document.title = 'bench ready';
