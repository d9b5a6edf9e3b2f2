// Services grouped by messenger in tabs (X-rays, gamma-rays, neutrinos, …, Other), from the
// services' own metadata: a newly registered service appears without any portal code.

import { h, replace } from './dom.js';

const MESSENGERS = [
  ['x-rays', 'X-rays', /x[\s_-]?rays?|^x$/i],
  ['gamma-rays', 'Gamma-rays', /gamma/i],
  ['neutrinos', 'Neutrinos', /neutrino/i],
  ['gravitational-waves', 'Gravitational waves', /gravitational|^gw$|^gws$/i],
  ['optical-ir', 'Optical/IR', /optical|infra-?red|^ir$|^nir$|^o\/ir$/i],
  ['ultraviolet', 'Ultraviolet', /^uv$|ultra-?violet/i],
  ['radio', 'Radio', /radio|^mm$|sub-?mm/i],
  ['cosmic-rays', 'Cosmic rays', /cosmic/i],
  ['multi-messenger', 'Multi-messenger', /multi/i],
];
export const OTHER = 'other';

/** `{key, label, order}` of a service's messenger string. */
export function messengerOf(value) {
  const text = (value || '').trim();
  if (!text) return { key: OTHER, label: 'Other', order: 1000 };
  const index = MESSENGERS.findIndex(([, , pattern]) => pattern.test(text));
  if (index >= 0) return { key: MESSENGERS[index][0], label: MESSENGERS[index][1], order: index };
  const key = text.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return { key, label: text.charAt(0).toUpperCase() + text.slice(1), order: 500 };
}

/**
 * Tabs (one per messenger) with their services; `select(name)` marks the current one.
 * `onActivate(key, firstService)` runs when the visitor picks another tab, so the page can
 * open that tab's first service: a form of another tab must never stay active under it.
 */
export class Catalog {
  constructor(tablist, panel, { onActivate } = {}) {
    this.tablist = tablist;
    this.panel = panel;
    this.onActivate = onActivate || (() => {});
    this.services = [];
    this.groups = [];
    this.active = null;
    this.selected = null;
    tablist.addEventListener('keydown', (event) => this.keys(event));
  }

  setServices(services) {
    this.services = services;
    const groups = new Map();
    for (const service of services) {
      const m = messengerOf(service.messenger);
      if (!groups.has(m.key)) groups.set(m.key, { ...m, services: [] });
      groups.get(m.key).services.push(service);
    }
    this.groups = [...groups.values()].sort((a, b) => a.order - b.order || a.label.localeCompare(b.label));
    for (const g of this.groups) g.services.sort((a, b) => (a.title || a.name).localeCompare(b.title || b.name));
    if (!this.groups.some((g) => g.key === this.active)) this.active = this.groups[0] ? this.groups[0].key : null;
    this.render();
  }

  find(name) {
    return this.services.find((s) => s.name === name) || null;
  }

  groupOf(name) {
    return this.groups.find((g) => g.services.some((s) => s.name === name)) || null;
  }

  /** The service to open when the link names none: the first of the active tab. */
  first() {
    const group = this.groups.find((g) => g.key === this.active) || this.groups[0];
    return group && group.services[0] ? group.services[0].name : null;
  }

  select(name) {
    this.selected = name;
    const group = this.groupOf(name);
    if (group) this.active = group.key;
    this.render();
  }

  /** Draw tabs and list anew; keyboard focus stays on the tab or service link it was on. */
  render() {
    const focused = document.activeElement;
    const tabFocused = this.tablist.contains(focused);
    const linkFocused = this.panel.contains(focused) && focused.dataset ? focused.dataset.service : null;
    this.draw();
    if (tabFocused) this.tablist.querySelector(`[data-messenger="${this.active}"]`)?.focus();
    else if (linkFocused) [...this.panel.querySelectorAll('a[data-service]')].find((a) => a.dataset.service === linkFocused)?.focus();
  }

  draw() {
    replace(this.tablist, this.groups.map((g) => {
      const selected = g.key === this.active;
      const tab = h('button', {
        type: 'button', role: 'tab', id: `tab-${g.key}`, 'aria-selected': String(selected),
        'aria-controls': 'service-list', tabindex: selected ? '0' : '-1', dataset: { messenger: g.key },
      }, g.label, h('span', { class: 'count', 'aria-hidden': 'true', text: String(g.services.length) }),
      h('span', { class: 'offscreen', text: `, ${g.services.length} service${g.services.length === 1 ? '' : 's'}` }));
      tab.addEventListener('click', () => this.activate(g.key));
      return tab;
    }));
    const group = this.groups.find((g) => g.key === this.active);
    this.panel.setAttribute('aria-labelledby', group ? `tab-${group.key}` : '');
    if (!group) {
      replace(this.panel, h('p', { class: 'muted', text: 'No services are available. Sign in to see restricted ones.' }));
      return;
    }
    replace(this.panel, h('ul', { class: 'service-list' }, group.services.map((s) => h('li', {},
      h('a', {
        href: `#/service/${encodeURIComponent(s.name)}`, class: s.name === this.selected ? 'current' : '',
        'aria-current': s.name === this.selected ? 'true' : false, dataset: { service: s.name },
      },
      h('span', { class: 'service-title', text: s.title || s.name }),
      h('span', { class: 'service-desc', text: firstSentence(s.description) }))))));
  }

  /** The visitor picked tab `key` (click or keys): show it and tell the page. */
  activate(key, focus = false) {
    const changed = key !== this.active;
    this.active = key;
    this.render();
    if (focus) this.tablist.querySelector(`[data-messenger="${key}"]`)?.focus();
    if (changed) this.onActivate(key, this.first());
  }

  /** True when `name` is listed under the active tab. */
  showing(name) {
    const group = this.groups.find((g) => g.key === this.active);
    return Boolean(group && group.services.some((s) => s.name === name));
  }

  /** Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern). */
  keys(event) {
    const keys = this.groups.map((g) => g.key);
    const index = keys.indexOf(this.active);
    let next = null;
    if (event.key === 'ArrowRight') next = keys[(index + 1) % keys.length];
    else if (event.key === 'ArrowLeft') next = keys[(index - 1 + keys.length) % keys.length];
    else if (event.key === 'Home') next = keys[0];
    else if (event.key === 'End') next = keys[keys.length - 1];
    if (next !== null) {
      event.preventDefault();
      this.activate(next, true);
    }
  }
}

function firstSentence(text) {
  const flat = (text || '').replace(/\s+/g, ' ').trim();
  const end = flat.search(/[.!?](\s|$)/);
  const sentence = end > 0 ? flat.slice(0, end + 1) : flat;
  return sentence.length > 140 ? `${sentence.slice(0, 137)}…` : sentence;
}
