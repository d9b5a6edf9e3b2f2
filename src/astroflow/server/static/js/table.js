// A table product, paged and sorted by the server: only one page of rows is ever in the DOM,
// so a 10,000-row (or a million-row) table stays as quick as a ten-row one.

import { getJSON } from './api.js';
import { h, replace, uid } from './dom.js';

const PAGE_SIZES = [25, 50, 100, 250];

/** A cell as text: blanks as an em dash, numbers with `decimals` fixed places if given. */
export function cellText(value, decimals = null) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') {
    if (Number.isInteger(value) && decimals === null) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return value.toExponential(5);
    return decimals === null ? String(Number(value.toPrecision(10))) : value.toFixed(decimals);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Decimal places that show every float of a column on this page (10 significant digits at
 * most), so that the numbers of a column line up on the decimal point.
 */
export function columnDecimals(values) {
  let decimals = null;
  for (const v of values) {
    if (typeof v !== 'number' || Number.isInteger(v)) continue;
    const abs = Math.abs(v);
    if (abs < 1e-4 || abs >= 1e9) return null;
    const text = String(Number(v.toPrecision(10)));
    const places = text.includes('.') ? text.length - text.indexOf('.') - 1 : 0;
    decimals = Math.min(8, Math.max(decimals ?? 0, places));
  }
  return decimals;
}

export class TableView {
  /** `first` is the preview already fetched (page 1), `url` the preview endpoint. */
  constructor(url, first, { caption } = {}) {
    this.url = url;
    this.state = { offset: 0, limit: first.limit || 50, sort: first.sort || null, descending: Boolean(first.descending) };
    this.seq = 0;
    this.captionText = caption || 'Table';
    this.element = this.render();
    this.fill(first);
  }

  render() {
    const sizeId = uid('page-size');
    const pageId = uid('page');
    this.summary = h('span', { class: 'table-summary', 'aria-live': 'polite' });
    this.sizeSelect = h('select', { id: sizeId, class: 'small' },
      PAGE_SIZES.map((n) => h('option', { value: String(n), text: String(n) })));
    this.sizeSelect.addEventListener('change', () => this.load({ limit: Number(this.sizeSelect.value), offset: 0 }));
    this.prevButton = h('button', { type: 'button', class: 'small', 'aria-label': 'Previous page' }, '‹ Previous');
    this.nextButton = h('button', { type: 'button', class: 'small', 'aria-label': 'Next page' }, 'Next ›');
    this.pageInput = h('input', { id: pageId, type: 'number', min: 1, step: 1, class: 'page-input small', inputmode: 'numeric' });
    this.pageCount = h('span', { class: 'page-count' });
    this.prevButton.addEventListener('click', () => this.load({ offset: Math.max(0, this.state.offset - this.state.limit) }));
    this.nextButton.addEventListener('click', () => this.load({ offset: this.state.offset + this.state.limit }));
    this.pageInput.addEventListener('change', () => {
      const page = Math.min(Math.max(1, Math.round(Number(this.pageInput.value) || 1)), this.pages());
      this.load({ offset: (page - 1) * this.state.limit });
    });
    this.head = h('thead');
    this.body = h('tbody');
    this.table = h('table', { class: 'data' }, h('caption', { class: 'offscreen', text: this.captionText }), this.head, this.body);
    this.scroller = h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': `${this.captionText} (scrollable)` }, this.table);
    return h('div', { class: 'table-view' },
      h('div', { class: 'table-toolbar' },
        this.summary,
        h('span', { class: 'pager' },
          h('label', { for: sizeId, class: 'small-label' }, 'Rows per page'), this.sizeSelect,
          this.prevButton,
          h('label', { for: pageId, class: 'small-label' }, 'Page'), this.pageInput, this.pageCount,
          this.nextButton)),
      this.scroller);
  }

  pages() {
    return Math.max(1, Math.ceil(this.nrows / this.state.limit));
  }

  /** Fetch the page for `change` (offset, limit, sort, descending); stale answers are dropped. */
  async load(change) {
    Object.assign(this.state, change);
    const seq = ++this.seq;
    this.element.setAttribute('aria-busy', 'true');
    try {
      const page = await getJSON(this.url, {
        offset: this.state.offset, limit: this.state.limit,
        sort: this.state.sort || undefined, descending: this.state.sort ? this.state.descending : undefined,
      });
      if (seq === this.seq) this.fill(page);
    } catch (error) {
      if (seq === this.seq) this.summary.textContent = `Could not load rows: ${error.message}`;
    } finally {
      if (seq === this.seq) this.element.removeAttribute('aria-busy');
    }
  }

  sortBy(name) {
    const descending = this.state.sort === name ? !this.state.descending : false;
    this.load({ sort: name, descending, offset: 0 });
  }

  fill(page) {
    this.nrows = page.nrows;
    this.columns = page.columns;
    this.state.offset = page.offset;
    this.state.limit = page.limit;
    this.sizeSelect.value = PAGE_SIZES.includes(page.limit) ? String(page.limit) : this.sizeSelect.value;
    const headRow = h('tr', {}, page.columns.map((col) => {
      const sorted = this.state.sort === col.name;
      const direction = sorted ? (this.state.descending ? 'descending' : 'ascending') : 'none';
      const button = h('button', { type: 'button', class: 'sort', title: `Sort by ${col.name}` },
        h('span', { class: 'col-name', text: col.name }),
        col.unit ? h('span', { class: 'col-unit', text: `[${col.unit}]` }) : null,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true', text: sorted ? (this.state.descending ? '▼' : '▲') : '↕' }));
      button.addEventListener('click', () => this.sortBy(col.name));
      return h('th', { scope: 'col', 'aria-sort': direction, class: numeric(col) ? 'num' : '' }, button);
    }));
    const refocus = this.head.contains(document.activeElement)
      ? document.activeElement.closest('th')?.querySelector('.col-name')?.textContent : null;
    replace(this.head, headRow);
    if (refocus) {
      [...this.head.querySelectorAll('button.sort')]
        .find((b) => b.querySelector('.col-name').textContent === refocus)?.focus();
    }
    const numericCols = page.columns.map(numeric);
    const decimals = page.columns.map((col, i) => (/^float/.test(col.dtype || '')
      ? columnDecimals(page.rows.map((row) => row[i])) : null));
    const fragment = document.createDocumentFragment();
    for (const row of page.rows) {
      const tr = document.createElement('tr');
      row.forEach((value, i) => {
        const td = document.createElement('td');
        td.textContent = cellText(value, decimals[i]);
        if (numericCols[i]) td.className = 'num';
        if (value === null) td.classList.add('blank');
        tr.append(td);
      });
      fragment.append(tr);
    }
    this.body.replaceChildren(fragment);
    const first = page.nrows ? page.offset + 1 : 0;
    const last = Math.min(page.offset + page.rows.length, page.nrows);
    this.summary.textContent = `Rows ${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${page.nrows.toLocaleString('en')}`
      + ` · ${page.columns.length} column${page.columns.length === 1 ? '' : 's'}`
      + (this.state.sort ? ` · sorted by ${this.state.sort}${this.state.descending ? ' (descending)' : ''}` : '');
    this.pageInput.value = String(Math.floor(page.offset / page.limit) + 1);
    this.pageInput.max = String(this.pages());
    this.pageCount.textContent = `of ${this.pages().toLocaleString('en')}`;
    this.prevButton.disabled = page.offset <= 0;
    this.nextButton.disabled = page.offset + page.limit >= page.nrows;
    this.element.dataset.offset = String(page.offset);
  }
}

function numeric(col) {
  return /^(?:u?int|float|complex|bool)/.test(col.dtype || '');
}
