import { describe, expect, it } from 'vitest';
import { HubTokens, LEGACY_TOKEN_KEY, migrateLegacyToken, tokenKey, type TokenStorage } from './hub-token.ts';

function memoryStorage(entries: Record<string, string> = {}): TokenStorage & { entries: Map<string, string> } {
  const map = new Map(Object.entries(entries));
  return {
    entries: map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

describe('HubTokens', () => {
  it('keeps one token per Hub and never hands one Hub\'s token to another', () => {
    const storage = memoryStorage();
    const tokens = new HubTokens(storage);
    tokens.set('http://127.0.0.1:9000', 'hf_a');
    expect(tokens.get('http://127.0.0.1:9000/')).toBe('hf_a'); // the same Hub, spelled with a slash
    for (const other of ['http://127.0.0.1:9001', 'http://localhost:9000', 'https://huggingface.co', 'https://127.0.0.1:9000', 'http://127.0.0.1:9000/sub']) {
      expect(tokens.get(other), other).toBeNull();
    }
    tokens.set('https://huggingface.co', 'hf_b');
    expect([tokens.get('http://127.0.0.1:9000'), tokens.get('https://huggingface.co')]).toEqual(['hf_a', 'hf_b']);
    tokens.forget('http://127.0.0.1:9000');
    expect([tokens.get('http://127.0.0.1:9000'), tokens.get('https://huggingface.co')]).toEqual([null, 'hf_b']);
    tokens.set('https://huggingface.co', '');
    expect(storage.entries.size).toBe(0);
  });

  it('has no slot for a URL that is not a Hub', () => {
    const tokens = new HubTokens(memoryStorage());
    expect(() => tokens.set('http://evil.example', 'hf_x')).toThrow('not a Hub URL');
    expect(() => tokens.get('javascript:alert(1)')).toThrow('not a Hub URL');
  });
});

describe('migrateLegacyToken', () => {
  it('moves the old single entry into huggingface.co\'s slot once, and nowhere else', () => {
    const storage = memoryStorage({ [LEGACY_TOKEN_KEY]: 'hf_old' });
    const tokens = new HubTokens(storage);
    expect(tokens.get('https://huggingface.co')).toBe('hf_old');
    expect(tokens.get('http://127.0.0.1:9000')).toBeNull();
    expect(storage.getItem(LEGACY_TOKEN_KEY)).toBeNull();
    expect([...storage.entries.keys()]).toEqual([tokenKey('https://huggingface.co')]);
  });

  it('keeps a token already in the default Hub\'s slot', () => {
    const storage = memoryStorage({ [LEGACY_TOKEN_KEY]: 'hf_old', [tokenKey('https://huggingface.co')]: 'hf_new' });
    migrateLegacyToken(storage);
    expect(storage.getItem(tokenKey('https://huggingface.co'))).toBe('hf_new');
    expect(storage.getItem(LEGACY_TOKEN_KEY)).toBeNull();
  });
});
