// Page entry: makes sure the page is cross-origin isolated (through the service worker when the
// host sends no headers), then mounts the app — or, for `?demo=OWNER/NAME`, the demo search page
// over that Hub model. Nothing else starts here.

import { mount } from 'svelte';
import { appConfig } from './lib/config.ts';
import App from './ui/App.svelte';
import { ensureCrossOriginIsolation } from './ui/service-worker.ts';
import DemoApp from './ui/DemoApp.svelte';
import './ui/global.css';

const coi = await ensureCrossOriginIsolation();
if (coi !== 'reloading') {
  const target = document.getElementById('app')!;
  const demo = new URLSearchParams(location.search).get('demo');
  const { hub } = appConfig();
  if (demo) mount(DemoApp, { target, props: { repo: demo, hubUrl: hub.url, foreignHub: hub.foreign } });
  else mount(App, { target, props: { coi } });
}
