// Build, dev server and test configuration for tabtune.
// Not a place for app settings: those live in src/lib/config.ts.
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { serviceWorkerPlugin } from './scripts/service-worker-plugin.ts';

// Cross-origin isolation: without it SharedArrayBuffer is unavailable and onnxruntime-web's
// WASM backend runs on one thread. Static hosts that cannot send headers get the same effect
// from the service worker (workers/service-worker.js, emitted as dist/sw.js), which also keeps
// the page working offline.
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const browserTests = ['**/*.browser.test.ts', 'tests/e2e/**/*.test.ts'];
// The files whose main flows also run in Firefox (firefox-esr over WebDriver BiDi); their
// Chromium-only tests skip themselves there (see ENGINES in tests/e2e/browser.ts).
const firefoxTests = ['tests/e2e/backend.browser.test.ts', 'tests/e2e/app.browser.test.ts', 'tests/e2e/export.browser.test.ts', 'tests/e2e/page.browser.test.ts', 'tests/e2e/generate.browser.test.ts'];

export default defineConfig({
  // Relative base so dist/ works from any sub-path (GitHub Pages, a file server folder).
  base: './',
  plugins: [svelte({ configFile: false }), serviceWorkerPlugin()],
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  worker: { format: 'es' },
  // Pre-bundling onnxruntime-web breaks the relative URLs it uses to find its .wasm/.mjs files.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022' },
  test: {
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['src/**/*.test.ts', 'workers/**/*.test.ts', 'scripts/**/*.test.ts', 'tests/**/*.test.ts'],
          exclude: [...browserTests, '**/node_modules/**'],
          setupFiles: ['tests/setup-node.ts'],
        },
      },
      {
        // One Chromium at a time: the machines this runs on have two cores, and the page
        // build in globalSetup is shared by every file.
        extends: true,
        test: {
          name: 'browser',
          include: browserTests,
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          globalSetup: ['tests/e2e/global-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The same flows, one test body, in Firefox; after Chromium, one browser at a time.
        extends: true,
        test: {
          name: 'firefox',
          include: firefoxTests,
          exclude: ['**/node_modules/**'],
          fileParallelism: false,
          globalSetup: ['tests/e2e/global-setup.ts'],
          env: { TABTUNE_ENGINE: 'firefox' },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
