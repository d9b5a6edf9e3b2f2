// A job's provenance for people: who asked, what ran, when, with which parameters and inputs,
// in which environment, and which files came out (with their sha256); the W3C PROV graph
// stays downloadable as PROV-JSON, PROV-N and PROV-XML.

import { apiUrl, download, getJSON } from './api.js';
import { h, replace } from './dom.js';

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

function value(v) {
  if (v === null || v === undefined) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function rows(pairs) {
  return h('dl', { class: 'prov-list' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

function table(caption, head, body) {
  return h('table', { class: 'prov-table' }, h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, body.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

function checksum(sha) {
  return sha ? h('code', { class: 'sha', title: sha, text: `${sha.slice(0, 12)}…` }) : '—';
}

/** The summary record as sections. */
export function renderSummary(s) {
  const what = s.what || {};
  const t = s.when || {};
  const env = s.environment || {};
  const repo = what.repository ? `${what.repository}${what.repository_version ? ` @ ${what.repository_version.slice(0, 12)}` : ''}` : null;
  return [
    h('section', { class: 'prov-section', 'aria-label': 'Who, what, when' },
      rows([
        ['Who', s.who],
        ['Service', `${what.title || what.service}${what.title && what.title !== what.service ? ` (${what.service})` : ''}`],
        ['Version', what.version],
        ['Repository', repo],
        ['Notebook', what.notebook],
        ['Submitted', when(t.created)],
        ['Started', when(t.started)],
        ['Finished', when(t.finished)],
        ['Run time', t.seconds === null || t.seconds === undefined ? null : `${t.seconds} s`],
        ['State', `${s.state}${s.cached ? ' (from cache)' : ''}`],
      ])),
    table('Parameters', ['Name', 'Value'],
      Object.entries(s.parameters || {}).map(([k, v]) => [h('code', { text: k }), value(v)])),
    (s.inputs || []).length ? table('Input files', ['Parameter', 'File', 'sha256'],
      s.inputs.map((i) => [i.parameter, i.file, checksum(i.sha256)])) : null,
    table('Products', ['Product', 'Format', 'File', 'sha256'],
      [...(s.products || []).flatMap((p) => p.files.map((f) => [p.title || p.name, f.format, f.file, checksum(f.sha256)])),
        ...(s.notebook ? [['Executed notebook', 'ipynb', s.notebook.file, checksum(s.notebook.sha256)]] : [])]),
    h('section', { class: 'prov-section', 'aria-label': 'Environment' },
      h('h4', { text: 'Environment' }),
      rows([
        ['astroflow', env.astroflow],
        ['Python', env.python],
        ['System', env.system],
        ['Service environment', env.service_environment],
        ['Packages', Object.entries(env.packages || {}).map(([k, v]) => `${k} ${v}`).join(', ')],
      ])),
  ];
}

/** A "Provenance" disclosure for job `id` that loads the summary when first opened. */
export function provenanceDisclosure(id, service) {
  const body = h('div', { class: 'prov-body' }, h('p', { class: 'muted small', text: 'Loading…' }));
  const base = `jobs/${encodeURIComponent(id)}/provenance`;
  const formats = [['json', 'PROV-JSON', 'json'], ['provn', 'PROV-N', 'provn'], ['xml', 'PROV-XML', 'xml']];
  const links = h('div', { class: 'downloads', role: 'group', 'aria-label': 'Download the W3C PROV record' },
    h('span', { class: 'small-label', text: 'W3C PROV' }),
    formats.map(([fmt, label, ext]) => {
      const href = apiUrl(base, { format: fmt });
      const a = h('a', { class: 'button small', href, download: `${service}-${id}.prov.${ext}`, dataset: { prov: fmt } }, label);
      a.addEventListener('click', (event) => {
        event.preventDefault();
        download(href, `${service}-${id}.prov.${ext}`).catch((error) => { a.title = error.message; });
      });
      return a;
    }));
  const details = h('details', { class: 'provenance', dataset: { provenance: id } },
    h('summary', {}, 'Provenance'), body, links);
  details.addEventListener('toggle', async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = 'loading';
    try {
      replace(body, renderSummary(await getJSON(base, { format: 'summary' })));
      details.dataset.loaded = 'true';
    } catch (error) {
      delete details.dataset.loaded;
      replace(body, h('p', { class: 'notice', dataset: { kind: 'error' }, text: `Provenance unavailable: ${error.message}` }));
    }
  });
  return details;
}
