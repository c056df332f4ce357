// The service worker from the page's side (workers/service-worker.js is the worker; the build
// emits it as sw.js). On a built page it is always registered: it caches the app so the page works
// offline after the first visit, and it makes the page cross-origin isolated on hosts that send no
// COOP/COEP headers — for that, the first load reloads once when the worker takes control. A
// sessionStorage marker stops a reload loop when the worker cannot help (a browser that refuses
// service workers, or a hard reload that bypasses them twice). The dev server sends the headers
// and rebuilds on every change, so `npm run dev` registers nothing.

const RELOAD_MARKER = 'tabtune:coi-reloaded';
/** How long to wait for a fresh service worker to take control before showing the page anyway. */
const CLAIM_TIMEOUT_MS = 10_000;

/** `gave-up`: the service worker was tried and the page is still not isolated. */
export type CoiOutcome = 'isolated' | 'reloading' | 'unsupported' | 'gave-up';

let registering: Promise<ServiceWorkerRegistration | null> | null = null;

/** The page's service worker registration; null in dev, on insecure origins and where refused. */
export function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (import.meta.env.DEV || !('serviceWorker' in navigator) || !isSecureContext) return Promise.resolve(null);
  registering ??= navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`).catch(() => null);
  return registering;
}

export async function ensureCrossOriginIsolation(): Promise<CoiOutcome> {
  const registration = await registerServiceWorker();
  if (globalThis.crossOriginIsolated) {
    sessionStorage.removeItem(RELOAD_MARKER);
    return 'isolated';
  }
  if (!registration) return 'unsupported';
  if (sessionStorage.getItem(RELOAD_MARKER)) {
    sessionStorage.removeItem(RELOAD_MARKER);
    return 'gave-up';
  }
  const reload = () => {
    sessionStorage.setItem(RELOAD_MARKER, '1');
    location.reload();
  };
  if (navigator.serviceWorker.controller) {
    // Served through a service worker and still not isolated: another reload would not help.
    return 'gave-up';
  }
  if (registration.active) {
    // Active already, but this load bypassed it (a hard reload): one more load goes through it.
    reload();
    return 'reloading';
  }
  const claimed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CLAIM_TIMEOUT_MS);
    navigator.serviceWorker.addEventListener(
      'controllerchange',
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
  });
  if (!claimed) return 'gave-up';
  reload();
  return 'reloading';
}

export interface OfflineStatus {
  /** Every file of this version is cached: the page loads with the network off. */
  ready: boolean;
  /** A new deployment has installed and waits; `activate` switches to it and reloads. */
  update: { activate: () => void } | null;
}

/**
 * Calls `onChange` with the offline status now and whenever it changes: when this version's cache
 * is complete, and when a new deployment is waiting to take over (it would on the next visit).
 */
export async function watchOfflineStatus(onChange: (s: OfflineStatus) => void): Promise<void> {
  const registration = await registerServiceWorker();
  if (!registration) return;
  const activate = () => {
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    registration.waiting?.postMessage({ type: 'skip-waiting' });
  };
  const report = () =>
    onChange({
      ready: !!registration.active && (registration.active.state === 'activated' || !!navigator.serviceWorker.controller),
      // With no controller this is the first install, which activates by itself.
      update: registration.waiting && navigator.serviceWorker.controller ? { activate } : null,
    });
  const follow = (w: ServiceWorker | null) => w?.addEventListener('statechange', report);
  follow(registration.installing);
  follow(registration.waiting);
  follow(registration.active);
  registration.addEventListener('updatefound', () => {
    follow(registration.installing);
    report();
  });
  report();
}
