// One form field generated from a JSON Schema property: its input (text, number, select,
// switch, JSON, upload), help, limits and error, and how to read and set its value.

import { api } from './api.js';
import { parseTime, timeForParameter } from './coords.js';
import { bytes, h, uid } from './dom.js';

/** The JSON type of a property and whether null is allowed. */
export function typeOf(prop) {
  const types = Array.isArray(prop.type) ? prop.type : [prop.type || 'string'];
  return { type: types.find((t) => t !== 'null') || 'string', optional: types.includes('null') };
}

/** Which control a property gets: select, switch, upload, number, JSON, time, URL or text. */
export function kindOf(prop) {
  const { type } = typeOf(prop);
  const role = prop['x-role'];
  if (prop.enum) return 'enum';
  if (type === 'boolean') return 'boolean';
  if (role === 'file') return 'file';
  if (type === 'number' || type === 'integer') return prop['x-time-format'] ? 'time' : 'number';
  if (type === 'array' || type === 'object') return 'json';
  if (prop['x-time-format']) return 'time';
  if (role === 'url') return 'url';
  if (typeof prop.default === 'string' && prop.default.includes('\n')) return 'multiline';
  return 'string';
}

function formatNumber(value) {
  return typeof value === 'number' ? String(value) : value ?? '';
}

function describeRange(prop) {
  const unit = prop['x-unit'] ? ` ${prop['x-unit']}` : '';
  if (prop.minimum !== undefined && prop.maximum !== undefined) return `${prop.minimum} – ${prop.maximum}${unit}`;
  if (prop.minimum !== undefined) return `≥ ${prop.minimum}${unit}`;
  if (prop.maximum !== undefined) return `≤ ${prop.maximum}${unit}`;
  return '';
}

/** One form field: its input, its help, its error, how to read and set its value. */
export class Field {
  constructor(name, prop, { uploading }) {
    this.name = name;
    this.prop = prop;
    this.kind = kindOf(prop);
    const { type, optional } = typeOf(prop);
    this.type = type;
    this.optional = optional;
    this.ref = null;          // an uploaded file's upload:// reference
    this.upload = null;       // the promise of an upload in flight
    this.uploading = uploading;
    this.id = uid(`p-${name.replace(/[^\w-]/g, '_')}`);
    this.element = this.render();
    this.set(prop.default);
  }

  render() {
    const prop = this.prop;
    const helpId = `${this.id}-help`;
    const errorId = `${this.id}-error`;
    const described = [helpId, errorId].join(' ');
    const label = prop.title || this.name;
    this.error = h('p', { class: 'field-error', id: errorId, hidden: true });
    const hints = [];
    const range = describeRange(prop);
    if (range) hints.push(`range ${range}`);
    if (this.kind === 'time') hints.push(`${(prop['x-time-format'] || 'isot').toUpperCase()} or MJD`);
    if (this.optional) hints.push('optional');
    // One line of help: the notebook's `oda:description`, else the ontology class's own.
    const about = prop.description || prop['x-ontology-description'];
    const help = h('div', { class: 'field-help', id: helpId },
      about ? h('span', { class: 'description', text: about }) : null,
      hints.length ? h('span', { class: 'hints', text: hints.join(' · ') }) : null);

    let control;
    if (this.kind === 'boolean') {
      this.input = h('input', { type: 'checkbox', role: 'switch', id: this.id, name: this.name, 'aria-describedby': described });
      return h('div', { class: 'field field-switch', dataset: { param: this.name } },
        h('label', { class: 'switch', for: this.id }, this.input, h('span', { class: 'track', 'aria-hidden': 'true' }),
          h('span', { class: 'label-text' }, label, prop.title ? h('code', { class: 'pname', text: this.name }) : null)),
        help, this.error);
    }
    if (this.kind === 'enum') {
      this.input = h('select', { id: this.id, name: this.name, 'aria-describedby': described },
        prop.enum.map((value, i) => h('option', { value: String(i), text: value === null ? '— none —' : String(value) })));
      control = this.input;
    } else if (this.kind === 'json' || this.kind === 'multiline') {
      const lines = this.kind === 'multiline' ? String(prop.default).split('\n').length : 3;
      this.input = h('textarea', { id: this.id, name: this.name, rows: Math.min(8, Math.max(3, lines)), spellcheck: 'false', 'aria-describedby': described, class: 'mono' });
      control = this.input;
    } else if (this.kind === 'file') {
      this.input = h('input', { type: 'file', id: this.id, name: this.name, 'aria-describedby': described });
      this.status = h('span', { class: 'upload-status', 'aria-live': 'polite' });
      this.input.addEventListener('change', () => this.startUpload());
      control = h('div', { class: 'upload' }, this.input, this.status);
    } else {
      const attrs = { id: this.id, name: this.name, 'aria-describedby': described, autocomplete: 'off', spellcheck: 'false' };
      if (this.kind === 'number') {
        Object.assign(attrs, { type: 'number', step: this.type === 'integer' ? '1' : 'any', inputmode: this.type === 'integer' ? 'numeric' : 'decimal' });
        if (prop.minimum !== undefined) attrs.min = prop.minimum;
        if (prop.maximum !== undefined) attrs.max = prop.maximum;
      } else if (this.kind === 'url') {
        Object.assign(attrs, { type: 'url', inputmode: 'url', placeholder: 'https://…' });
      } else {
        attrs.type = 'text';
        if (this.kind === 'time') attrs.placeholder = 'e.g. 2024-01-01T00:00:00';
      }
      if (!this.optional && (this.kind === 'number' || this.kind === 'time')) attrs['aria-required'] = 'true';
      this.input = h('input', attrs);
      control = this.input;
    }
    const unit = prop['x-unit'] ? h('span', { class: 'unit', text: prop['x-unit'] }) : null;
    return h('div', { class: ['field', `field-${this.kind}`], dataset: { param: this.name } },
      h('label', { for: this.id }, h('span', { class: 'label-text', text: label }),
        prop.title ? h('code', { class: 'pname', text: this.name }) : null),
      h('div', { class: unit ? 'control with-unit' : 'control' }, control, unit),
      help, this.error);
  }

  /** Show a value (a default, a URL parameter or a job's canonical value). */
  set(value) {
    this.clearError();
    if (this.kind === 'boolean') {
      this.input.checked = value === true || value === 'true' || value === '1' || value === 1;
    } else if (this.kind === 'enum') {
      const index = this.prop.enum.findIndex((v) => v === value || String(v) === String(value ?? ''));
      this.input.value = String(index >= 0 ? index : 0);
    } else if (this.kind === 'json') {
      this.input.value = typeof value === 'string' ? value : (value === undefined ? '' : JSON.stringify(value));
    } else if (this.kind === 'file') {
      this.ref = typeof value === 'string' && value.startsWith('upload://') ? value : null;
      this.input.value = '';
      this.status.textContent = this.ref ? `uploaded file ${this.ref}` : (value ? `default: ${value}` : 'no file chosen');
    } else {
      this.input.value = value === null || value === undefined ? '' : formatNumber(value);
    }
  }

  /** The raw text of the field, for links that reproduce the form. */
  raw() {
    if (this.kind === 'boolean') return String(this.input.checked);
    if (this.kind === 'enum') {
      const v = this.prop.enum[Number(this.input.value)];
      return v === null ? '' : String(v);
    }
    if (this.kind === 'file') return this.ref;
    return this.input.value;
  }

  /** `{value}` to send, `{omit: true}` to leave the default to the server, or `{error}`. */
  read() {
    const prop = this.prop;
    if (this.kind === 'boolean') return { value: this.input.checked };
    if (this.kind === 'enum') return { value: prop.enum[Number(this.input.value)] };
    if (this.kind === 'file') {
      if (this.ref) return { value: this.ref };
      return this.optional && (prop.default === null || prop.default === undefined) ? { value: null } : { omit: true };
    }
    const text = this.input.value.trim();
    if (this.kind === 'number' && this.input.validity.badInput) return { error: 'must be a number' };
    if (!text) {
      if (this.optional) return { value: null };
      if (this.type === 'string' && this.kind !== 'time') return { value: '' };
      return { error: 'a value is required' };
    }
    if (this.kind === 'json') {
      try {
        const value = JSON.parse(text);
        const want = this.type === 'array' ? Array.isArray(value) : value && typeof value === 'object' && !Array.isArray(value);
        return want ? { value } : { error: `must be a JSON ${this.type === 'array' ? 'list, e.g. [1, 2]' : 'object, e.g. {"a": 1}'}` };
      } catch (error) {
        return { error: `not valid JSON (${error.message})` };
      }
    }
    if (this.kind === 'time') {
      try {
        return { value: timeForParameter(parseTime(text), prop['x-time-format'], this.type) };
      } catch (error) {
        return { error: error.message };
      }
    }
    if (this.kind === 'number') {
      const value = Number(text);
      if (!Number.isFinite(value)) return { error: 'must be a finite number' };
      if (this.type === 'integer' && !Number.isInteger(value)) return { error: 'must be a whole number' };
      const unit = prop['x-unit'] ? ` ${prop['x-unit']}` : '';
      if (prop.minimum !== undefined && value < prop.minimum) return { error: `must be ≥ ${prop.minimum}${unit}` };
      if (prop.maximum !== undefined && value > prop.maximum) return { error: `must be ≤ ${prop.maximum}${unit}` };
      return { value };
    }
    if (this.kind === 'url' && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(text)) {
      return { error: 'must be a URL such as https://example.org/data.fits' };
    }
    return { value: this.input.value };
  }

  async startUpload() {
    const file = this.input.files && this.input.files[0];
    if (!file) return;
    this.clearError();
    this.ref = null;
    this.status.textContent = `uploading ${file.name} (${bytes(file.size)})…`;
    const body = new FormData();
    body.append('file', file, file.name);
    this.upload = (async () => {
      try {
        const { data } = await api('uploads', { method: 'POST', body });
        this.ref = data.ref;
        this.status.textContent = `✓ ${data.filename || file.name} uploaded (${bytes(data.size ?? file.size)})`;
      } catch (error) {
        this.status.textContent = '';
        this.showError(error.status === 404 && !error.structured
          ? 'this server does not accept uploads' : `upload failed: ${error.message}`);
      } finally {
        this.upload = null;
        this.uploading(false);
      }
    })();
    this.uploading(true);
    await this.upload;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.input.setAttribute('aria-invalid', 'true');
    this.element.classList.add('invalid');
  }

  clearError() {
    this.error.textContent = '';
    this.error.hidden = true;
    this.input.removeAttribute('aria-invalid');
    this.element.classList.remove('invalid');
  }

  focus() {
    this.input.focus();
  }
}

