// Makes what the Content-Security-Policy refuses inside a worker visible: the browser does not
// always show a worker's violation reports where the page's console (or a test driving it) looks,
// and a refused eval that the code around it catches would otherwise pass unseen. Each worker
// entry imports this first; the browser tests fail on any console error it logs.
// Not a reporting endpoint: nothing leaves the browser.

self.addEventListener('securitypolicyviolation', (e) => {
  console.error(
    `Content-Security-Policy refused ${e.blockedURI || 'a resource'} (${e.effectiveDirective}) at ${e.sourceFile || '?'}:${e.lineNumber}:${e.columnNumber}`,
  );
});
