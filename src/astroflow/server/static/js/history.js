// The visitor's recent jobs, kept in this browser; states of unfinished ones are refreshed.

import { ApiError, getJSON } from './api.js';
import { ago, h, replace } from './dom.js';

const KEY = 'astroflow.recentJobs';
const LIMIT = 30;
const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const REFRESH_MS = 4000;

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(list) ? list.filter((j) => j && typeof j.id === 'string') : [];
  } catch {
    return [];
  }
}

function save(list) {
  try {
    localStorage.setItem(KEY, JSON.stringify(list.slice(0, LIMIT)));
  } catch { /* storage full or refused: the list lives for this page only */ }
}

/** What to show of a job in the list: service, object or first values, state. */
function entryOf(record, title) {
  const params = record.parameters || {};
  const object = ['src_name', 'object_name', 'source', 'target', 'name'].map((k) => params[k]).find((v) => typeof v === 'string' && v);
  return {
    id: record.id, service: record.service, title: title || record.service, state: record.state,
    created: record.created, object: object || null,
  };
}

export class RecentJobs {
  constructor(root, { titles, current } = {}) {
    this.root = root;
    this.titles = titles || (() => null);
    this.current = current || (() => null);
    this.list = load();
    this.timer = null;
    window.addEventListener('storage', (event) => {
      if (event.key === KEY) { this.list = load(); this.render(); }
    });
  }

  /** Add a job at the top, or update the state of one already listed (it keeps its place). */
  remember(record) {
    const index = this.list.findIndex((j) => j.id === record.id);
    const entry = entryOf(record, this.titles(record.service) || (index >= 0 ? this.list[index].title : null));
    if (index >= 0) this.list[index] = entry;
    else this.list.unshift(entry);
    save(this.list);
    this.render();
    this.schedule();
  }

  forget() {
    this.list = [];
    save(this.list);
    this.render();
  }

  /** Ask the server for the state of every unfinished job; forget the ones it no longer has. */
  async refresh() {
    const open = this.list.filter((j) => !TERMINAL.has(j.state));
    await Promise.all(open.map(async (entry) => {
      try {
        const record = await getJSON(`jobs/${encodeURIComponent(entry.id)}`);
        Object.assign(entry, { state: record.state });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) entry.state = 'gone';
      }
    }));
    save(this.list);
    this.render();
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.list.some((j) => !TERMINAL.has(j.state) && j.state !== 'gone')) {
      this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
    }
  }

  render() {
    const current = this.current();
    const items = this.list.map((job) => h('li', {},
      h('a', { href: `#/job/${job.id}`, class: job.id === current ? 'current' : '', 'aria-current': job.id === current ? 'page' : false },
        h('span', { class: 'recent-title', text: job.title }),
        h('span', { class: 'badge state tiny', dataset: { state: job.state }, text: job.state }),
        h('span', { class: 'recent-meta', text: [job.object, ago(job.created)].filter(Boolean).join(' · ') }))));
    replace(this.root,
      h('div', { class: 'aside-head' },
        h('h2', { id: 'recent-title', text: 'Recent jobs' }),
        this.list.length ? h('button', { type: 'button', class: 'link small', onClick: () => this.forget() }, 'Clear') : null),
      this.list.length
        ? h('ul', { class: 'recent-list', 'aria-labelledby': 'recent-title' }, items)
        : h('p', { class: 'muted small', text: 'Jobs you run appear here, kept in this browser.' }));
  }
}
