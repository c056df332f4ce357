// Cross-origin isolation on hosts that cannot send COOP/COEP headers: registers
// public/coi-serviceworker.js, which adds them, and reloads once so the page is served through
// it. A sessionStorage marker stops a reload loop when the worker cannot help (e.g. a browser
// that refuses service workers, or a hard reload that bypasses them twice).

const RELOAD_MARKER = 'tabtune:coi-reloaded';
/** How long to wait for a fresh service worker to take control before showing the page anyway. */
const CLAIM_TIMEOUT_MS = 10_000;

/** `gave-up`: the service worker was tried and the page is still not isolated. */
export type CoiOutcome = 'isolated' | 'reloading' | 'unsupported' | 'gave-up';

export async function ensureCrossOriginIsolation(): Promise<CoiOutcome> {
  if (globalThis.crossOriginIsolated) {
    sessionStorage.removeItem(RELOAD_MARKER);
    return 'isolated';
  }
  if (!('serviceWorker' in navigator) || !isSecureContext) return 'unsupported';
  if (sessionStorage.getItem(RELOAD_MARKER)) {
    sessionStorage.removeItem(RELOAD_MARKER);
    return 'gave-up';
  }
  const reload = () => {
    sessionStorage.setItem(RELOAD_MARKER, '1');
    location.reload();
  };
  let registration: ServiceWorkerRegistration;
  try {
    registration = await navigator.serviceWorker.register(`${import.meta.env.BASE_URL}coi-serviceworker.js`);
  } catch {
    return 'unsupported';
  }
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
