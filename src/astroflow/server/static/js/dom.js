// Small DOM helpers: build elements declaratively, without a framework or a build step.

/**
 * Create an element. `attrs` keys: `class`, `text`, `html` is not supported on purpose
 * (every string is text, so service metadata can never inject markup), `on<Event>` handlers,
 * `dataset`, booleans as presence attributes, everything else as attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (strings, nodes, arrays, null) to `parent`. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace every child of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let counter = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix = 'af') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Human-readable byte size. */
export function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  let value = n;
  while (value >= 1000 && i < units.length - 1) { value /= 1000; i += 1; }
  return `${i ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[i]}`;
}

/** Seconds as "0.4 s", "12 s", "3 min 05 s", "1 h 02 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.floor(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** "3 min ago" style time for the history list. */
export function ago(iso) {
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return '';
  const s = Math.max(0, (Date.now() - then) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(then).toISOString().slice(0, 10);
}

/** Copy text to the clipboard; falls back to a hidden textarea where the API is refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}
