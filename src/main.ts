// Page entry: makes sure the page is cross-origin isolated (through the service worker when the
// host sends no headers), then mounts the app. Nothing else starts here.

import { mount } from 'svelte';
import App from './ui/App.svelte';
import { ensureCrossOriginIsolation } from './ui/coi.ts';

const coi = await ensureCrossOriginIsolation();
if (coi !== 'reloading') {
  mount(App, { target: document.getElementById('app')!, props: { coi } });
}
