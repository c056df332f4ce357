// The access tokens "remember the token on this device" keeps: one slot per Hub URL in
// localStorage, so a token entered for one Hub is never offered to, pre-filled for or sent to
// another (a crafted `?hub=` link opens the page on a Hub of its choosing). Takes the storage as
// an argument so it runs in Node tests. Not the push itself, and not where the token goes once
// Push is pressed (the worker sends it to the Hub URL it is given).

import { DEFAULT_HUB_URL, normalizeHubUrl } from '../lib/hub-policy.js';

/** Before tokens had a Hub: one entry for whatever Hub the page used. */
export const LEGACY_TOKEN_KEY = 'tabtune.hfToken';

export type TokenStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** The slot of one Hub: keyed by its normalized URL (so by its origin, and its path if any). */
export function tokenKey(hubUrl: string): string {
  const url = normalizeHubUrl(hubUrl);
  if (!url) throw new Error(`not a Hub URL: ${hubUrl}`);
  return `${LEGACY_TOKEN_KEY}@${url}`;
}

/**
 * Moves the old single entry into the default Hub's slot, once. The assumption: the page ran on
 * huggingface.co unless a `?hub=` link said otherwise, so that is the Hub the token was most
 * likely made for; a slot already filled is kept, and the old entry is removed either way.
 */
export function migrateLegacyToken(storage: TokenStorage): void {
  const old = storage.getItem(LEGACY_TOKEN_KEY);
  if (old === null) return;
  const key = tokenKey(DEFAULT_HUB_URL);
  if (storage.getItem(key) === null && old) storage.setItem(key, old);
  storage.removeItem(LEGACY_TOKEN_KEY);
}

/** The tokens remembered on this device, each for the one Hub it was entered for. */
export class HubTokens {
  readonly #storage: TokenStorage;

  constructor(storage: TokenStorage) {
    this.#storage = storage;
    migrateLegacyToken(storage);
  }

  /** The token remembered for this Hub, or null; never one from another Hub's slot. */
  get(hubUrl: string): string | null {
    return this.#storage.getItem(tokenKey(hubUrl));
  }

  set(hubUrl: string, token: string): void {
    if (token) this.#storage.setItem(tokenKey(hubUrl), token);
    else this.forget(hubUrl);
  }

  forget(hubUrl: string): void {
    this.#storage.removeItem(tokenKey(hubUrl));
  }
}
