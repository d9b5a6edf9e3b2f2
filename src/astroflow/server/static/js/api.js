// The public HTTP API, as the portal uses it. URLs are relative to the page, so the portal
// works behind a proxy that serves astroflow under a path prefix.

import { authHeaders, getToken } from './auth.js';

export const API = 'api/v1';

/** An error answer: `status`, `code`, `message` and, for 422, the per-field `errors`. */
export class ApiError extends Error {
  constructor(status, body, fallback) {
    const error = (body && body.error) || {};
    const detail = body && typeof body.detail === 'string' ? body.detail : null;
    super(error.message || detail || fallback || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 404 ? 'not_found' : 'http_error');
    this.errors = Array.isArray(error.errors) ? error.errors : [];
    // True when astroflow itself answered (its error shape), false for a missing route.
    this.structured = Boolean(body && body.error);
  }
}

/** Make an absolute API path from a server record (`/api/v1/...`) relative to the page. */
export function rel(url) {
  return url.startsWith('/') ? url.slice(1) : url;
}

/** Build `api/v1/<path>?<query>`; query values that are null/undefined are left out. */
export function apiUrl(path, query) {
  let url = path.startsWith(API) || path.startsWith('/') ? rel(path) : `${API}/${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== null && value !== undefined) params.append(key, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes('?') ? '&' : '?') + text;
  }
  return url;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  return new ApiError(response.status, body, response.statusText);
}

/** JSON request; throws ApiError for any non-2xx answer. */
export async function api(path, { method = 'GET', json, body, query, signal, headers } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json', ...authHeaders(), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(apiUrl(path, query), init);
  if (!response.ok) throw await errorOf(response);
  return { status: response.status, data: response.status === 204 ? null : await response.json() };
}

/** GET and return the JSON body only. */
export async function getJSON(path, query, signal) {
  return (await api(path, { query, signal })).data;
}

/**
 * Server-sent events read through `fetch`, because `EventSource` cannot send the
 * Authorization header that restricted jobs need. Yields `{event, data}` with parsed JSON.
 */
export async function* serverEvents(path, signal) {
  const response = await fetch(apiUrl(path), {
    headers: { Accept: 'text/event-stream', ...authHeaders() }, signal, cache: 'no-store',
  });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
      }
      if (data.length) yield { event, data: JSON.parse(data.join('\n')) };
    }
  }
}

/**
 * A URL the browser can open or show directly. Public links work as they are; with a token
 * the file is fetched with the header and handed over as a blob URL.
 */
export async function browserUrl(url) {
  if (!getToken()) return url;
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw await errorOf(response);
  return URL.createObjectURL(await response.blob());
}

/** Save a file: a plain link without a token, a fetched blob with one. */
export async function download(url, filename) {
  const href = await browserUrl(url);
  const link = document.createElement('a');
  link.href = href;
  link.download = filename || '';
  document.body.append(link);
  link.click();
  link.remove();
  if (href !== url) setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
