// A service's form, generated at run time from its JSON Schema: units, limits, allowed values,
// switches, uploads, groups and help text. Parameters whose role belongs to the query bar
// are not repeated here: their values come from the bar, converted to the declared format.

import { authHeaders, getToken } from './auth.js';
import { angleFrom, angleTo, parseAngle, timeForParameter, timeFromParameter } from './coords.js';
import { append, h, replace, uid } from './dom.js';
import { Field, typeOf } from './field.js';
import { BAR_ROLES } from './querybar.js';

const HIDDEN_ROLES = new Set(['token']);   // filled by the server from the caller's token
const ROLE_LABELS = {
  object_name: 'Object name', ra: 'RA', dec: 'Dec', start_time: 'Start time', end_time: 'End time',
};

/** Paragraphs of plain text with `code` spans; never HTML from the service. */
export function prose(text) {
  return (text || '').split(/\n\s*\n/).filter((p) => p.trim()).map((para) => {
    const p = h('p');
    para.replace(/\s*\n\s*/g, ' ').split(/(`[^`]+`)/).forEach((part) => {
      if (part.startsWith('`') && part.endsWith('`') && part.length > 1) append(p, [h('code', { text: part.slice(1, -1) })]);
      else if (part) append(p, [part]);
    });
    return p;
  });
}

/**
 * A link to the service's README page (rendered by the server). Restricted services need the
 * visitor's token, which a plain link cannot send: those are fetched and opened as a blob.
 */
function readmeLink(detail) {
  if (!detail.readme) return null;
  const href = detail.readme.replace(/^\//, '');
  const open = async (event) => {
    if (!(detail.roles && detail.roles.length && getToken())) return;
    event.preventDefault();
    const popup = window.open('', '_blank');
    const response = await fetch(href, { headers: authHeaders() });
    const url = URL.createObjectURL(new Blob([await response.text()], { type: 'text/html' }));
    if (popup) popup.location.href = url;
    else window.location.href = url;
  };
  return h('a', {
    class: 'readme-link', href, target: '_blank', rel: 'noopener', onClick: open,
    'aria-label': `README of ${detail.title || detail.name} (opens in a new tab)`,
  }, 'README ↗');
}

/** The form of one service; reads the bar for bound parameters. */
export class ServiceForm {
  constructor(root, { bar, onSubmit, onChange, onCode, onShare }) {
    this.root = root;
    this.bar = bar;
    this.onSubmit = onSubmit;
    this.onChange = onChange || (() => {});
    this.onCode = onCode;
    this.onShare = onShare;
    this.detail = null;
    this.fields = new Map();
    this.bound = [];   // [{name, role, prop}]
  }

  /** Build the form of `detail` (GET /services/{name}). */
  show(detail) {
    this.detail = detail;
    this.fields = new Map();
    this.bound = [];
    const groups = new Map();
    const loose = [];
    for (const [name, prop] of Object.entries(detail.schema.properties || {})) {
      const role = prop['x-role'];
      if (HIDDEN_ROLES.has(role)) continue;
      if (BAR_ROLES.includes(role)) {
        this.bound.push({ name, role, prop });
        continue;
      }
      const field = new Field(name, prop, { uploading: (busy) => this.setBusy(busy) });
      field.element.addEventListener('input', () => { field.clearError(); this.onChange(); });
      field.element.addEventListener('change', () => this.onChange());
      this.fields.set(name, field);
      const group = prop['x-group'];
      if (group) {
        if (!groups.has(group)) groups.set(group, []);
        groups.get(group).push(field.element);
      } else {
        loose.push(field.element);
      }
    }
    const titleId = uid('sf-title');
    this.notice = h('div', { class: 'notice form-notice', role: 'alert', hidden: true });
    this.submitButton = h('button', { type: 'submit', class: 'primary' }, 'Run ', h('span', { class: 'kbd', 'aria-hidden': 'true', text: '⏎' }));
    this.codePanel = h('div', { class: 'code-panel', hidden: true });
    const boundNote = this.bound.length
      ? h('p', { class: 'bound-note' }, 'From the query bar: ',
        this.bound.map(({ name, role }, i) => [i ? ', ' : '', h('strong', { text: ROLE_LABELS[role] }), ' → ', h('code', { text: name })]))
      : h('p', { class: 'bound-note', text: 'This service does not use the query bar.' });
    const form = h('form', { class: 'card service-form', novalidate: true, 'aria-labelledby': titleId },
      h('header', { class: 'card-head' },
        h('div', {},
          h('h2', { id: titleId, text: detail.title || detail.name }),
          h('p', { class: 'meta' }, h('code', { text: detail.name }), ` · version ${detail.version}`,
            detail.roles && detail.roles.length ? h('span', { class: 'badge restricted', text: 'restricted' }) : null)),
        readmeLink(detail)),
      h('div', { class: 'description' }, prose(detail.description)),
      boundNote,
      loose.length ? h('div', { class: 'fields' }, loose) : null,
      [...groups].map(([group, elements]) => h('fieldset', { class: 'group' },
        h('legend', { text: group }), h('div', { class: 'fields' }, elements))),
      this.notice,
      h('div', { class: 'actions' },
        this.submitButton,
        h('button', { type: 'button', onClick: () => this.reset() }, 'Defaults'),
        h('button', { type: 'button', 'aria-expanded': 'false', onClick: (e) => this.toggleCode(e.currentTarget) }, 'Python API code'),
        h('button', { type: 'button', onClick: (e) => this.onShare && this.onShare(e.currentTarget) }, 'Copy link')),
      this.codePanel);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.onSubmit();
    });
    replace(this.root, form);
    this.form = form;
  }

  /** Roles of the bar this service reads. */
  boundRoles() {
    return new Set(this.bound.map((b) => b.role));
  }

  /** Fill bar fields that are empty from this service's defaults (a first visit starts ready). */
  seedBar() {
    for (const { role, prop } of this.bound) {
      if (this.bar.isEmpty(role) && prop.default !== undefined && prop.default !== null) {
        this.bar.fill(role, this.toBar(role, prop, prop.default));
      }
    }
  }

  toBar(role, prop, value) {
    if (value === null || value === undefined) return value;
    if (role === 'ra' || role === 'dec') {
      const unit = prop['x-unit'] || 'deg';
      if (typeof value === 'number' || /^[+-]?[\d.]+(?:e[+-]?\d+)?$/i.test(String(value).trim())) return angleFrom(Number(value), unit);
      try { return parseAngle(value, role); } catch { return NaN; }
    }
    if (role === 'start_time' || role === 'end_time') return timeFromParameter(value, prop['x-time-format']);
    return String(value);
  }

  /** Show parameter values (from a link or a job). Missing ones get their defaults. */
  setValues(values, { bar = true } = {}) {
    for (const [name, field] of this.fields) field.set(name in values ? values[name] : field.prop.default);
    if (!bar) return;
    for (const { name, role, prop } of this.bound) {
      if (name in values) this.bar.fill(role, this.toBar(role, prop, values[name]));
    }
  }

  /** The service's own defaults; the query bar keeps the visitor's object and times. */
  reset() {
    this.setValues({}, { bar: false });
    this.clearErrors();
    this.onChange();
  }

  /**
   * Validate everything in the browser. Returns `{parameters}` when all is well, or
   * `{errors}` after showing each at its field (and focusing the first): nothing is sent.
   */
  collect() {
    this.clearErrors();
    const parameters = {};
    const problems = [];
    for (const { name, role, prop } of this.bound) {
      const { optional, type } = typeOf(prop);
      if (this.bar.isEmpty(role)) {
        if (optional) parameters[name] = null;
        else if (role === 'object_name' && prop.default !== undefined) continue;  // server default
        else problems.push({ bar: role, message: `${this.detail.title || this.detail.name} needs this value` });
        continue;
      }
      let value;
      try {
        value = this.bar.read(role);
      } catch (error) {
        problems.push({ bar: role, message: error.message });
        continue;
      }
      if (role === 'ra' || role === 'dec') {
        const converted = angleTo(value, prop['x-unit']);
        if (prop.minimum !== undefined && converted < prop.minimum) { problems.push({ bar: role, message: `${name} must be ≥ ${prop.minimum} ${prop['x-unit'] || ''}`.trim() }); continue; }
        if (prop.maximum !== undefined && converted > prop.maximum) { problems.push({ bar: role, message: `${name} must be ≤ ${prop.maximum} ${prop['x-unit'] || ''}`.trim() }); continue; }
        parameters[name] = type === 'string' ? String(converted) : converted;
      } else if (role === 'start_time' || role === 'end_time') {
        parameters[name] = timeForParameter(value, prop['x-time-format'], type);
      } else {
        parameters[name] = value;
      }
    }
    const start = this.bound.find((b) => b.role === 'start_time');
    const end = this.bound.find((b) => b.role === 'end_time');
    if (start && end && !problems.some((p) => p.bar === 'start_time' || p.bar === 'end_time')) {
      try {
        if (this.bar.read('end_time') <= this.bar.read('start_time')) problems.push({ bar: 'end_time', message: 'the end time must be after the start time' });
      } catch { /* reported above */ }
    }
    for (const [name, field] of this.fields) {
      const result = field.read();
      if (result.error) problems.push({ field, message: result.error });
      else if (!result.omit) parameters[name] = result.value;
    }
    if (problems.length) {
      for (const p of problems) {
        if (p.bar) this.bar.showError(p.bar, p.message);
        else p.field.showError(p.message);
      }
      const first = problems[0];
      if (first.bar) this.bar.focus(first.bar);
      else first.field.focus();
      this.showNotice(problems.length === 1 ? 'One value needs attention before the job can be sent.'
        : `${problems.length} values need attention before the job can be sent.`, 'error');
      return { errors: problems };
    }
    return { parameters };
  }

  /** Values for a link that reopens this form: every parameter as text. */
  linkValues() {
    const values = {};
    for (const { name, role, prop } of this.bound) {
      if (this.bar.isEmpty(role)) continue;
      try {
        const v = this.bar.read(role);
        const { type } = typeOf(prop);
        if (role === 'ra' || role === 'dec') values[name] = String(Number(angleTo(v, prop['x-unit']).toFixed(8)));
        else if (role === 'start_time' || role === 'end_time') values[name] = String(timeForParameter(v, prop['x-time-format'], type));
        else values[name] = v;
      } catch {
        values[name] = this.bar.inputs[role].value;
      }
    }
    for (const [name, field] of this.fields) {
      const raw = field.raw();
      if (raw !== null && raw !== undefined) values[name] = raw;
    }
    return values;
  }

  /** 422 answers: each error at its field (bar fields for bound parameters). */
  showServerErrors(errors, message) {
    const unplaced = [];
    let focused = false;
    for (const e of errors) {
      const text = `${e.reason}${e.value !== undefined && e.value !== null ? ` (got ${JSON.stringify(e.value)})` : ''}`;
      const field = this.fields.get(e.field);
      const bound = this.bound.find((b) => b.name === e.field);
      if (field) {
        field.showError(text);
        if (!focused) { field.focus(); focused = true; }
      } else if (bound) {
        this.bar.showError(bound.role, `${e.field}: ${text}`);
        if (!focused) { this.bar.focus(bound.role); focused = true; }
      } else {
        unplaced.push(`${e.field}: ${text}`);
      }
    }
    this.showNotice(unplaced.length ? `The server refused the request: ${unplaced.join('; ')}`
      : message || 'The server refused some values; see the highlighted fields.', 'error');
  }

  clearErrors() {
    for (const field of this.fields.values()) field.clearError();
    for (const role of BAR_ROLES) this.bar.clearError(role);
    this.showNotice('');
  }

  showNotice(text, kind = 'info') {
    if (!this.notice) return;
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
    this.notice.hidden = !text;
  }

  setBusy(busy) {
    if (this.submitButton) this.submitButton.disabled = busy;
  }

  /** Wait for uploads still in flight before sending. */
  async settled() {
    await Promise.all([...this.fields.values()].map((f) => f.upload).filter(Boolean));
  }

  async toggleCode(button) {
    const open = this.codePanel.hidden;
    button.setAttribute('aria-expanded', String(open));
    this.codePanel.hidden = !open;
    if (open && this.onCode) await this.onCode(this.codePanel);
  }

  refreshCode() {
    if (this.codePanel && !this.codePanel.hidden && this.onCode) this.onCode(this.codePanel);
  }
}
