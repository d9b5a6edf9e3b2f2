// "Python API code": the server writes a snippet that reproduces a request with the
// astroflow client; the portal shows it with a copy button.

import { ApiError, getJSON } from './api.js';
import { copyText, h, replace } from './dom.js';

/** Fill `panel` with the snippet at `path` (query `query`), or say why there is none. */
export async function showCode(panel, path, query) {
  replace(panel, h('p', { class: 'muted', text: 'Writing the Python code…' }));
  try {
    const snippet = await getJSON(path, { lang: 'python', ...query });
    const code = h('code', { class: `language-${snippet.lang || 'python'}`, text: snippet.code });
    const button = h('button', { type: 'button', class: 'copy small' }, 'Copy');
    button.addEventListener('click', async () => {
      const ok = await copyText(snippet.code);
      button.textContent = ok ? 'Copied ✓' : 'Copy failed';
      setTimeout(() => { button.textContent = 'Copy'; }, 1800);
    });
    replace(panel,
      h('div', { class: 'code-head' },
        h('span', { text: 'Python · astroflow client' }), button),
      h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Python code' }, code));
  } catch (error) {
    const text = error instanceof ApiError && error.status === 404 && !error.structured
      ? 'This server does not generate code snippets yet.'
      : `No code snippet: ${error.message}`;
    replace(panel, h('p', { class: 'muted', text }));
  }
}
