import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANY_HUB_POLICY, contentSecurityPolicy, hubConnectSources, normalizeHubUrl, safeLinkUrl, WORKER_POLICY } from './hub-policy.js';

describe('normalizeHubUrl', () => {
  it('takes https anywhere and plain http only on this machine', () => {
    expect(normalizeHubUrl('https://huggingface.co/')).toBe('https://huggingface.co');
    expect(normalizeHubUrl('https://Mirror.Example:8443/hf//')).toBe('https://mirror.example:8443/hf');
    expect(normalizeHubUrl('http://127.0.0.1:9000')).toBe('http://127.0.0.1:9000');
    expect(normalizeHubUrl('http://localhost:9000/')).toBe('http://localhost:9000');
    expect(normalizeHubUrl('http://127.1:9000')).toBe('http://127.0.0.1:9000'); // the URL parser's own spelling
    for (const bad of ['http://evil.example', 'http://10.0.0.1', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'http://2130706433.evil.example']) {
      expect(normalizeHubUrl(bad), bad).toBeNull();
    }
  });

  it('refuses what a CSP source cannot name or a header could be bent by', () => {
    // IPv6 literals and other loopback addresses: the page's static policy cannot allow them.
    for (const bad of ['http://[::1]:9000', 'https://[2001:db8::1]', 'http://127.0.0.2:9000']) expect(normalizeHubUrl(bad), bad).toBeNull();
    // Characters a URL host may hold but that mean something inside a policy.
    for (const bad of ["https://a;script-src*.example", 'https://a,b.example', "https://a'b.example", 'https://*.example']) expect(normalizeHubUrl(bad), bad).toBeNull();
    // Credentials, a query or a fragment, and things that are not URLs.
    for (const bad of ['https://user:pw@h.example', 'https://h.example/?x=1', 'https://h.example/#x', 'javascript:alert(1)', 'ftp://h.example', 'h.example', '', null, undefined]) {
      expect(normalizeHubUrl(bad), String(bad)).toBeNull();
    }
  });
});

describe('safeLinkUrl', () => {
  it('makes links of https (and local http) URLs only', () => {
    expect(safeLinkUrl('https://huggingface.co/me/model')).toBe('https://huggingface.co/me/model');
    expect(safeLinkUrl('http://127.0.0.1:9000/me/model')).toBe('http://127.0.0.1:9000/me/model');
    for (const bad of ['javascript:alert(document.domain)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', 'blob:https://x/1', 'http://evil.example/x', '/relative', '//evil.example/x', '', 42, null]) {
      expect(safeLinkUrl(bad), String(bad)).toBeNull();
    }
  });
});

describe('the Content-Security-Policy', () => {
  it('allows only the app\'s own scripts and workers, and connect-src as given', () => {
    const policy = contentSecurityPolicy(["'self'", 'https://h.example']);
    const directives = Object.fromEntries(policy.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
    expect(directives['script-src']).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(directives['worker-src']).toEqual(["'self'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'self'"]);
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['connect-src']).toEqual(["'self'", 'https://h.example']);
    expect(policy).not.toMatch(/'unsafe-eval'|blob:|data:/);
  });

  it('narrows connect-src per page load to the default Hub, the build\'s Hub and a valid ?hub=', () => {
    const hf = ["'self'", 'https://huggingface.co', 'https://*.huggingface.co', 'https://*.hf.co'];
    expect(hubConnectSources('', undefined)).toEqual(hf);
    expect(hubConnectSources('?hub=http://127.0.0.1:9000/x&maxSteps=6', 'https://mirror.example/hf')).toEqual([...hf, 'https://mirror.example', 'http://127.0.0.1:9000']);
    expect(hubConnectSources('?hub=https://huggingface.co', undefined)).toEqual(hf);
    // Hubs the page would not use are not let in either.
    expect(hubConnectSources('?hub=http://evil.example', 'http://also.evil.example')).toEqual(hf);
    expect(hubConnectSources("?hub=https://a;script-src%20*;.example", undefined)).toEqual(hf);
  });

  it('is what index.html carries in its meta tag', () => {
    const html = readFileSync(join(import.meta.dirname, '../../index.html'), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html);
    expect(meta?.[1]).toBe(ANY_HUB_POLICY);
    expect(ANY_HUB_POLICY).toContain("connect-src 'self' https: http://127.0.0.1:* http://localhost:*;");
  });
});

describe('the workers\' policy', () => {
  it('is the page\'s any-Hub policy: no string is evaluated as code in a worker either', () => {
    expect(WORKER_POLICY).toBe(ANY_HUB_POLICY);
    expect(WORKER_POLICY).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(WORKER_POLICY).not.toContain("'unsafe-eval'");
  });
});
