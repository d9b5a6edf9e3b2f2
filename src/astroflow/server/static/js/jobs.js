// One job on screen: live state and progress from server-sent events, elapsed time, cancel,
// failures (analysis errors plainly, bugs with their traceback), then the products.

import { api, ApiError, getJSON, serverEvents } from './api.js';
import { showCode } from './code.js';
import { copyText, duration, h, replace } from './dom.js';
import { logDisclosure } from './joblog.js';
import { provenanceDisclosure } from './provenance.js';
import { jobLinks, renderProducts } from './results.js';

export const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const STATE_TEXT = {
  queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed', cancelled: 'Cancelled',
};

/** Tracebacks from IPython carry terminal colour codes; the page shows plain text. */
export function plainTraceback(text) {
  // eslint-disable-next-line no-control-regex
  return (text || '').replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

export class JobPanel {
  constructor(root, { onRecord, jobLink } = {}) {
    this.root = root;
    this.onRecord = onRecord || (() => {});
    this.jobLink = jobLink || ((id) => `#/job/${id}`);
    this.record = null;
    this.controller = null;
    this.ticker = null;
  }

  /** Show a job by id (or its record) and follow it until it ends. */
  async open(idOrRecord) {
    this.close();
    const controller = new AbortController();
    this.controller = controller;
    let record = typeof idOrRecord === 'string' ? null : idOrRecord;
    if (!record) {
      this.renderLoading(idOrRecord);
      try {
        record = await getJSON(`jobs/${encodeURIComponent(idOrRecord)}`, undefined, controller.signal);
      } catch (error) {
        if (controller.signal.aborted) return null;
        this.renderMissing(idOrRecord, error);
        throw error;
      }
    }
    if (controller.signal.aborted) return null;
    this.render(record);
    this.update(record);
    if (!TERMINAL.has(record.state)) this.follow(record.id, controller.signal);
    return record;
  }

  /** Stop following (another job or service replaces this one). */
  close() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    clearInterval(this.ticker);
    this.ticker = null;
  }

  clear() {
    this.close();
    this.record = null;
    replace(this.root);
  }

  async follow(id, signal) {
    try {
      for await (const { data } of serverEvents(`jobs/${encodeURIComponent(id)}/events`, signal)) {
        this.update(data);
        if (TERMINAL.has(data.state)) return;
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 404) return;
    }
    // The stream ended early (a proxy timeout, a restart): long-poll until the job ends.
    while (!signal.aborted) {
      try {
        const record = await getJSON(`jobs/${encodeURIComponent(id)}`, { wait: 25 }, signal);
        this.update(record);
        if (TERMINAL.has(record.state)) return;
      } catch (error) {
        if (signal.aborted) return;
        await new Promise((resolve) => { setTimeout(resolve, 2000); });
      }
    }
  }

  renderLoading(id) {
    replace(this.root, h('section', { class: 'card job' }, h('p', { class: 'muted', text: `Loading job ${id}…` })));
  }

  renderMissing(id, error) {
    replace(this.root, h('section', { class: 'card job' },
      h('p', { class: 'notice', dataset: { kind: 'error' } },
        error instanceof ApiError && error.status === 404
          ? `Job ${id} was not found. It may belong to another user (sign in) or have been removed.`
          : `Job ${id} could not be loaded: ${error.message}`)));
  }

  /** The panel's fixed frame; `update` fills it as records arrive. */
  render(record) {
    this.state = h('span', { class: 'badge state', role: 'status' });
    this.elapsed = h('span', { class: 'elapsed', 'aria-live': 'off' });
    this.cancelButton = h('button', { type: 'button', class: 'danger small' }, 'Cancel');
    this.cancelButton.addEventListener('click', () => this.cancel());
    const share = h('button', { type: 'button', class: 'small' }, 'Copy link');
    share.addEventListener('click', async () => {
      const url = new URL(this.jobLink(record.id), window.location.href).href;
      share.textContent = (await copyText(url)) ? 'Link copied ✓' : url;
      setTimeout(() => { share.textContent = 'Copy link'; }, 1800);
    });
    this.bar = h('div', { class: 'bar' });
    this.progress = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Job progress', 'aria-valuemin': '0', 'aria-valuemax': '100' }, this.bar);
    this.stage = h('p', { class: 'job-stage', 'aria-live': 'polite' });
    this.failure = h('div', { class: 'failure' });
    this.links = h('div', { class: 'job-links' });
    this.results = h('div', { class: 'results' });
    const codePanel = h('div', { class: 'code-panel' });
    const code = h('details', { class: 'api-code' }, h('summary', {}, 'Python API code'), codePanel);
    code.addEventListener('toggle', () => {
      if (code.open && !codePanel.dataset.loaded) {
        codePanel.dataset.loaded = '1';
        showCode(codePanel, `jobs/${encodeURIComponent(record.id)}/code`);
      }
    });
    this.log = logDisclosure(record.id, this.controller ? this.controller.signal : new AbortController().signal);
    this.provenance = h('div', { class: 'job-provenance' });
    replace(this.root,
      h('section', { class: 'card job', 'aria-label': 'Job', dataset: { job: record.id } },
        h('header', { class: 'card-head job-head' },
          h('div', {},
            h('h2', {}, 'Job ', h('code', { class: 'job-id', title: record.id, text: record.id.slice(0, 8) })),
            h('p', { class: 'meta' }, h('span', { text: record.service }),
              record.created ? ` · submitted ${new Date(record.created).toLocaleString()}` : '')),
          h('div', { class: 'job-actions' }, this.state, this.elapsed, this.cancelButton, share)),
        this.progress, this.stage, this.failure, this.links, code, this.log.element, this.provenance),
      this.results);
  }

  /** Apply a new record (from submit, SSE, poll or cancel). */
  update(record) {
    // A late record of a job no longer on screen changes nothing.
    if (!record || !this.root.querySelector(`[data-job="${record.id}"]`)) return;
    const previous = this.record;
    // An ended job never runs again: a slower answer from before the end (the DELETE's reply
    // arriving after the stream's "cancelled") must not put it back to "running".
    if (previous && previous.id === record.id && TERMINAL.has(previous.state) && !TERMINAL.has(record.state)) return;
    this.record = record;
    this.receivedAt = performance.now();
    const state = record.state;
    this.state.textContent = STATE_TEXT[state] || state;
    this.state.dataset.state = state;
    if (record.cached) this.state.textContent += ' (from cache)';
    this.cancelButton.hidden = TERMINAL.has(state);
    const fraction = state === 'done' ? 1 : record.progress && typeof record.progress.fraction === 'number' ? record.progress.fraction : null;
    if (fraction === null) {
      this.progress.removeAttribute('aria-valuenow');
      this.progress.dataset.indeterminate = state === 'running' || state === 'queued' ? 'true' : 'false';
      this.bar.style.width = state === 'failed' || state === 'cancelled' ? '100%' : '';
    } else {
      const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
      this.progress.setAttribute('aria-valuenow', String(pct));
      this.progress.dataset.indeterminate = 'false';
      this.bar.style.width = `${pct}%`;
    }
    this.progress.dataset.state = state;
    const p = record.progress || {};
    const stageText = state === 'queued' ? 'Waiting for a free worker…'
      : state === 'running' ? [p.stage, p.message].filter(Boolean).join(' — ') || 'Running…'
        : state === 'done' ? `Finished${record.cached ? ' (result served from cache)' : ''}` : '';
    this.stage.textContent = stageText + (fraction !== null && state === 'running' ? ` (${Math.round(fraction * 100)} %)` : '');
    this.tick();
    clearInterval(this.ticker);
    if (state === 'running') this.ticker = setInterval(() => this.tick(), 200);
    if (TERMINAL.has(state) && (!previous || !TERMINAL.has(previous.state) || previous.id !== record.id)) this.finish(record);
    this.onRecord(record);
  }

  /** Elapsed time: the server's figure plus what passed since it was sent. */
  tick() {
    const r = this.record;
    if (!r) return;
    let seconds = r.elapsed;
    if (r.state === 'running') seconds = (r.elapsed || 0) + (performance.now() - this.receivedAt) / 1000;
    this.elapsed.textContent = seconds === null || seconds === undefined ? '' : duration(seconds);
    this.elapsed.title = 'Elapsed time';
  }

  finish(record) {
    clearInterval(this.ticker);
    replace(this.links, jobLinks(record));
    if (this.log) this.log.ended();
    replace(this.provenance, provenanceDisclosure(record.id, record.service));
    const error = record.error;
    if (record.state === 'done' && record.expired) {
      // the storage policy removed its files; the record (parameters, provenance) stays
      replace(this.failure, h('p', { class: 'notice', dataset: { kind: 'warn' }, role: 'status' },
        h('strong', { text: 'Results expired: ' }), 'resubmit to recompute (the same request runs again).'));
      replace(this.results);
    } else if (record.state === 'done') {
      replace(this.failure);
      renderProducts(this.results, record);
    } else if (record.state === 'cancelled') {
      replace(this.failure, h('p', { class: 'notice', dataset: { kind: 'warn' }, text: 'This job was cancelled.' }));
    } else if (error && error.analysis) {
      replace(this.failure, h('div', { class: 'notice', dataset: { kind: 'warn' }, role: 'alert' },
        h('strong', { text: 'No result: ' }), error.message));
    } else if (error) {
      const what = error.type === 'time_limit' ? 'The job ran past its time limit.'
        : error.type === 'crashed' ? 'The job’s process crashed.'
          : error.type === 'store_full' ? 'The server’s store was full.'
            : 'The service failed on this request (a bug in the workflow).';
      replace(this.failure, h('div', { class: 'notice', dataset: { kind: 'error' }, role: 'alert' },
        h('p', {}, h('strong', { text: what }), ' ', error.message || ''),
        error.traceback ? h('details', { class: 'traceback' },
          h('summary', {}, 'Traceback', error.cell !== undefined && error.cell !== null ? ` (cell ${error.cell})` : ''),
          h('pre', { tabindex: '0', text: plainTraceback(error.traceback) })) : null));
    }
  }

  async cancel() {
    const record = this.record;
    if (!record || TERMINAL.has(record.state)) return;
    this.cancelButton.disabled = true;
    try {
      const { data } = await api(`jobs/${encodeURIComponent(record.id)}`, { method: 'DELETE' });
      this.update(data);
    } catch (error) {
      this.stage.textContent = `Could not cancel: ${error.message}`;
    } finally {
      this.cancelButton.disabled = false;
    }
  }
}
