// "Python API code": the server writes snippets that reproduce a request — with the
// astroflow client, with MMODA's oda_api client, or with the astroflow command — and the
// portal shows them side by side (one tab each) with a copy button.

import { ApiError, getJSON } from './api.js';
import { copyText, h, replace } from './dom.js';

const FLAVOURS = [
  { lang: 'python', label: 'Python · astroflow client' },
  { lang: 'oda_api', label: 'Python · oda_api (MMODA)' },
  { lang: 'shell', label: 'Shell · astroflow command' },
];

/** Fill `panel` with the snippets at `path` (query `query`), or say why there are none. */
export async function showCode(panel, path, query) {
  replace(panel, h('p', { class: 'muted', text: 'Writing the Python code…' }));
  let snippets;
  try {
    snippets = await Promise.all(FLAVOURS.map(async (flavour) => {
      try {
        return { ...flavour, ...(await getJSON(path, { ...query, lang: flavour.lang })) };
      } catch (error) {
        if (flavour.lang === 'python') throw error;  // the main snippet must exist
        return null;                                 // the others are optional extras
      }
    }));
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404 && !error.structured
      ? 'This server does not generate code snippets yet.'
      : `No code snippet: ${error.message}`;
    replace(panel, h('p', { class: 'muted', text }));
    return;
  }
  snippets = snippets.filter(Boolean);
  const pre = h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Python code' });
  const copy = h('button', { type: 'button', class: 'copy small' }, 'Copy');
  let current = snippets[0];
  const tabs = snippets.map((snippet) => {
    const tab = h('button', { type: 'button', class: 'code-tab small', role: 'tab',
      'data-lang': snippet.lang, 'aria-selected': 'false' }, snippet.label);
    tab.addEventListener('click', () => select(snippet));
    return tab;
  });
  function select(snippet) {
    current = snippet;
    replace(pre, h('code', { class: `language-${snippet.lang}`, text: snippet.code }));
    pre.setAttribute('aria-label', snippet.label);
    tabs.forEach((tab) => tab.setAttribute('aria-selected',
      String(tab.dataset.lang === snippet.lang)));
  }
  copy.addEventListener('click', async () => {
    const ok = await copyText(current.code);
    copy.textContent = ok ? 'Copied ✓' : 'Copy failed';
    setTimeout(() => { copy.textContent = 'Copy'; }, 1800);
  });
  replace(panel,
    h('div', { class: 'code-head' }, h('span', { class: 'code-tabs', role: 'tablist' }, ...tabs), copy),
    pre);
  select(current);
}
