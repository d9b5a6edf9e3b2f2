// The visitor's access token: from a sign-in (password, OpenID Connect) or pasted once, kept
// in this browser, sent as a Bearer header.

const KEY = 'astroflow.token';
const listeners = new Set();

export function getToken() {
  try {
    return localStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

/** Keep (or, with '', forget) the token; `quiet` skips the listeners, for a token taken
 * before the portal has started (the OpenID Connect hand-over). */
export function setToken(token, { quiet = false } = {}) {
  const clean = (token || '').trim().replace(/^Bearer\s+/i, '');
  try {
    if (clean) localStorage.setItem(KEY, clean);
    else localStorage.removeItem(KEY);
  } catch {
    // Private browsing without storage: the token lasts for this page only.
  }
  if (!quiet) for (const fn of listeners) fn(clean);
}

export function onTokenChange(fn) {
  listeners.add(fn);
}

export function authHeaders(token = getToken()) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * The readable claims of a JWT (subject, roles, expiry) for display only: the server checks
 * the signature; the portal never trusts these for anything but labels.
 */
export function claims(token = getToken()) {
  const parts = (token || '').split('.');
  if (parts.length !== 3) return null;
  try {
    const text = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    const json = decodeURIComponent(Array.from(text, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}
