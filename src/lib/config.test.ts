import { describe, expect, it } from 'vitest';
import { DEFAULT_HUB_URL, appConfig, normalizeHubUrl, resolveHubUrl } from './config.ts';

describe('resolveHubUrl', () => {
  it('prefers ?hub= over the build-time value over the default', () => {
    expect(resolveHubUrl('?hub=http://127.0.0.1:9000/', 'https://mirror.example')).toEqual({
      url: 'http://127.0.0.1:9000',
      source: 'query',
      foreign: true,
    });
    expect(resolveHubUrl('?other=1', 'https://mirror.example/hf/')).toEqual({
      url: 'https://mirror.example/hf',
      source: 'env',
      foreign: false,
    });
    expect(resolveHubUrl('', undefined)).toEqual({ url: DEFAULT_HUB_URL, source: 'default', foreign: false });
  });

  it('calls a ?hub= foreign only when it differs from the build\'s own Hub', () => {
    expect(resolveHubUrl('?hub=https://huggingface.co/', undefined)).toEqual({ url: DEFAULT_HUB_URL, source: 'query', foreign: false });
    expect(resolveHubUrl('?hub=https://mirror.example', 'https://mirror.example/').foreign).toBe(false);
    expect(resolveHubUrl('?hub=https://huggingface.co', 'https://mirror.example').foreign).toBe(true);
  });

  it('skips values that are not https URLs, or http off this machine', () => {
    expect(resolveHubUrl('?hub=javascript:alert(1)', undefined).source).toBe('default');
    expect(resolveHubUrl('?hub=not a url', 'ftp://x.example').source).toBe('default');
    expect(resolveHubUrl('?hub=http://evil.example', undefined)).toEqual({ url: DEFAULT_HUB_URL, source: 'default', foreign: false });
    expect(normalizeHubUrl('https://h.example/?x=1')).toBeNull();
    expect(normalizeHubUrl('  https://h.example//  ')).toBe('https://h.example');
  });
});

describe('appConfig', () => {
  it('works in plain Node, where there is no location and no import.meta.env', () => {
    const config = appConfig();
    expect(config.modelId).toBe('BAAI/bge-base-en-v1.5');
    expect(config.datasetId).toBe('YxBxRyXJx/QAsimple_for_BGE_241019');
    expect(config.hub.url).toMatch(/^https?:\/\//);
  });
});
