// The common query bar: object name with Resolve, RA/Dec, start/end time with ISOT/MJD.
// Every service parameter whose role is one of BAR_ROLES takes its value from here.

import { ApiError, getJSON } from './api.js';
import {
  formatDec, formatDegrees, formatRA, parseDec, parseRA, parseTime, showTime,
} from './coords.js';

export const BAR_ROLES = ['object_name', 'ra', 'dec', 'start_time', 'end_time'];
const INPUT_IDS = {
  object_name: 'qb-object', ra: 'qb-ra', dec: 'qb-dec', start_time: 'qb-start', end_time: 'qb-end',
};
const FORMAT_KEY = 'astroflow.timeFormat';

export class QueryBar {
  constructor(root, { onChange } = {}) {
    this.root = root;
    this.onChange = onChange || (() => {});
    this.inputs = Object.fromEntries(
      Object.entries(INPUT_IDS).map(([role, id]) => [role, root.querySelector(`#${id}`)]));
    this.note = root.querySelector('#qb-object-note');
    this.resolveButton = root.querySelector('#qb-resolve-btn');
    this.formatRadios = [...root.querySelectorAll('input[name="qb-timefmt"]')];
    this.format = 'isot';
    this.resolved = null;   // {name, ra, dec}: the RA/Dec text the last resolve filled in
    try {
      this.format = localStorage.getItem(FORMAT_KEY) === 'mjd' ? 'mjd' : 'isot';
    } catch { /* storage refused: ISOT */ }
    for (const radio of this.formatRadios) {
      radio.checked = radio.value === this.format;
      radio.addEventListener('change', () => radio.checked && this.setFormat(radio.value));
    }
    root.querySelector('#qb-resolve').addEventListener('submit', (event) => {
      event.preventDefault();
      this.resolve();
    });
    for (const [role, input] of Object.entries(this.inputs)) {
      input.addEventListener('input', () => {
        this.clearError(role);
        this.describe(role);
        if (role === 'object_name') this.nameEdited();
        this.onChange(role);
      });
      input.addEventListener('blur', () => this.tidy(role));
    }
    this.timeHints();
  }

  /**
   * Switch between ISOT and MJD, converting what is shown. `remember: false` (a link's
   * format) leaves the visitor's own preference in this browser as it was.
   */
  setFormat(format, { remember = true } = {}) {
    const previous = this.format;
    this.format = format === 'mjd' ? 'mjd' : 'isot';
    if (remember) {
      try { localStorage.setItem(FORMAT_KEY, this.format); } catch { /* fine */ }
    }
    for (const radio of this.formatRadios) radio.checked = radio.value === this.format;
    if (previous !== this.format) {
      for (const role of ['start_time', 'end_time']) {
        const input = this.inputs[role];
        if (!input.value.trim()) continue;
        try {
          input.value = showTime(parseTime(input.value), this.format);
        } catch { /* leave text that cannot be read; its error shows on submit */ }
        this.describe(role);
      }
    }
    this.timeHints();
    this.onChange('format');
  }

  timeHints() {
    const example = this.format === 'mjd' ? 'e.g. 60310.0' : 'e.g. 2024-01-01T00:00:00';
    for (const role of ['start_time', 'end_time']) this.inputs[role].placeholder = example;
  }

  isEmpty(role) {
    return !this.inputs[role].value.trim();
  }

  /** The value of a role: degrees for RA/Dec, MJD for times, text for the name. Throws. */
  read(role) {
    const text = this.inputs[role].value;
    if (role === 'object_name') return text.trim();
    if (role === 'ra') return parseRA(text);
    if (role === 'dec') return parseDec(text);
    return parseTime(text);
  }

  /** Show a value (degrees, MJD or text) in a bar field. */
  fill(role, value) {
    const input = this.inputs[role];
    if (value === null || value === undefined || (typeof value === 'number' && !Number.isFinite(value))) {
      input.value = '';
    } else if (role === 'ra' || role === 'dec') {
      input.value = formatDegrees(value);
    } else if (role === 'start_time' || role === 'end_time') {
      input.value = showTime(value, this.format);
    } else {
      input.value = String(value);
    }
    this.clearError(role);
    this.describe(role);
  }

  /** The line under a field shows the other spelling: sexagesimal for degrees and back. */
  describe(role) {
    const line = this.root.querySelector(`#${INPUT_IDS[role]}-alt`);
    if (!line) return;
    let text = '';
    if (!this.isEmpty(role)) {
      try {
        const value = this.read(role);
        const typed = this.inputs[role].value.trim();
        if (role === 'ra') text = /^[+-]?[\d.]+(?:[eE][+-]?\d+)?$/.test(typed) ? formatRA(value) : `${formatDegrees(value)}°`;
        else if (role === 'dec') text = /^[+-]?[\d.]+(?:[eE][+-]?\d+)?$/.test(typed) ? formatDec(value) : `${formatDegrees(value)}°`;
        else text = this.format === 'mjd' ? showTime(value, 'isot') : `MJD ${showTime(value, 'mjd')}`;
      } catch {
        text = '';
      }
    }
    line.textContent = text;
  }

  /** Normalise what was typed when leaving a time field (an MJD in ISOT mode and back). */
  tidy(role) {
    if (role !== 'start_time' && role !== 'end_time') return;
    if (this.isEmpty(role)) return;
    try {
      this.inputs[role].value = showTime(this.read(role), this.format);
      this.describe(role);
    } catch { /* the error shows on submit */ }
  }

  showError(role, message) {
    const input = this.inputs[role];
    const box = this.root.querySelector(`#${INPUT_IDS[role]}-error`);
    input.setAttribute('aria-invalid', 'true');
    input.closest('.qb-field')?.classList.add('invalid');
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  }

  clearError(role) {
    const input = this.inputs[role];
    input.removeAttribute('aria-invalid');
    input.closest('.qb-field')?.classList.remove('invalid');
    const box = this.root.querySelector(`#${INPUT_IDS[role]}-error`);
    if (box) {
      box.textContent = '';
      box.hidden = true;
    }
  }

  focus(role) {
    this.inputs[role].focus();
  }

  /** Dim the fields the selected service does not use, so it is clear what binds where. */
  markUsed(roles, serviceTitle) {
    for (const [role, input] of Object.entries(this.inputs)) {
      const field = input.closest('.qb-field');
      const used = roles.has(role);
      field.classList.toggle('unused', !used);
      field.title = used ? '' : `${serviceTitle || 'This service'} does not use this field`;
    }
  }

  /** True while RA/Dec still show what the last resolve filled in. */
  showsResolved() {
    return Boolean(this.resolved) && this.inputs.ra.value === this.resolved.ra
      && this.inputs.dec.value === this.resolved.dec;
  }

  /** A new name under the old name's RA/Dec: say so until Resolve is pressed again. */
  nameEdited() {
    const name = this.inputs.object_name.value.trim();
    if (this.showsResolved() && name && name !== this.resolved.name) {
      this.setNote(`RA/Dec are still those of “${this.resolved.name}”: press Resolve for “${name}”.`, 'warn');
    } else {
      this.setNote('');
    }
  }

  setNote(text, kind = 'info') {
    this.note.textContent = text;
    this.note.dataset.kind = kind;
  }

  /** Ask the server's name resolver; fill RA/Dec and say who answered. */
  async resolve() {
    const name = this.inputs.object_name.value.trim();
    if (!name) {
      this.showError('object_name', 'type an object name to resolve, e.g. Crab');
      this.focus('object_name');
      return null;
    }
    this.resolveButton.disabled = true;
    this.resolveButton.setAttribute('aria-busy', 'true');
    this.setNote(`Resolving ${name}…`);
    try {
      const found = await getJSON('resolve', { name });
      this.fill('ra', found.ra);
      this.fill('dec', found.dec);
      this.resolved = { name, ra: this.inputs.ra.value, dec: this.inputs.dec.value };
      const parts = [found.canonical && found.canonical !== name ? `${name} = ${found.canonical}` : found.canonical || name];
      if (found.object_type) parts.push(found.object_type);
      parts.push(`resolved by ${found.resolver || 'the server'}`);
      this.setNote(parts.join(' · '), 'ok');
      this.onChange('ra');
      return found;
    } catch (error) {
      // The previous object's RA/Dec must not stay under the new name: clear what the last
      // resolve filled in; coordinates the visitor typed stay, marked as theirs.
      let coords = '';
      if (this.showsResolved()) {
        coords = ` RA/Dec of “${this.resolved.name}” cleared.`;
        this.fill('ra', null);
        this.fill('dec', null);
        this.resolved = null;
        this.onChange('ra');
      } else if (!this.isEmpty('ra') || !this.isEmpty('dec')) {
        coords = ` The RA/Dec shown are the ones you typed, not those of “${name}”.`;
      }
      if (error instanceof ApiError && error.status === 404 && error.structured) {
        this.setNote(`${error.message || `“${name}” was not found`}.${coords}`, 'error');
      } else if (error instanceof ApiError && error.status === 404) {
        this.setNote(`This server has no name resolver; type RA and Dec instead.${coords}`, 'error');
      } else {
        this.setNote(`Could not resolve “${name}” (${error.message}); enter RA and Dec.${coords}`, 'error');
      }
      return null;
    } finally {
      this.resolveButton.disabled = false;
      this.resolveButton.removeAttribute('aria-busy');
    }
  }
}
