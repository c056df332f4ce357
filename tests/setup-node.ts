// Every Node test process frees gradient buffers as the CLI does (release-buffer.ts), so the tests
// run the path users run: an array used after the updater released it would fail them.
import { enableBufferRelease } from '../src/lib/util/release-buffer-node.ts';

enableBufferRelease();
