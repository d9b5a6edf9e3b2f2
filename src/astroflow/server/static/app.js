// astroflow portal: wires the query bar, the service tabs and forms, jobs, results, links,
// history and sign-in. Plain ES modules, no build step; the server only serves files.

import { api, ApiError, getJSON } from './js/api.js';
import { getToken, onTokenChange, setToken } from './js/auth.js';
import { Catalog } from './js/catalog.js';
import { showCode } from './js/code.js';
import { copyText, h, replace } from './js/dom.js';
import { ServiceForm } from './js/form.js';
import { RecentJobs } from './js/history.js';
import { JobPanel } from './js/jobs.js';
import { QueryBar } from './js/querybar.js';
import { initSignIn, openSignIn } from './js/signin.js';

const $ = (selector) => document.querySelector(selector);

const details = new Map();        // service name → GET /services/{name}
let service = null;               // the detail shown in the form
let currentJob = null;            // id of the job shown, if any
let lastRoute = null;             // the hash last applied, to ignore our own URL updates
let linkTimer = null;

const bar = new QueryBar($('#querybar'), { onChange: () => formChanged() });
const catalog = new Catalog($('#messenger-tabs'), $('#service-list'), {
  // Another tab opens its first service: the form of the previous tab must not stay active
  // (issue 18: Run under "Other" submitted the IceCube job). The link follows, as a new entry.
  onActivate: (key, first) => {
    if (first && !(service && catalog.showing(service.name))) navigate(serviceLink(first));
  },
});
const recent = new RecentJobs($('#recent'), {
  titles: (name) => (catalog.find(name) || {}).title,
  current: () => currentJob,
});
const jobs = new JobPanel($('#job'), {
  onRecord: (record) => {
    if (recent.list.some((j) => j.id === record.id)) recent.remember(record);
  },
  jobLink: (id) => jobLink(id),
});
const form = new ServiceForm($('#service-form'), {
  bar,
  onSubmit: () => submit(),
  onChange: () => formChanged(),
  onCode: (panel) => service && showCode(panel, `services/${encodeURIComponent(service.name)}/code`, form.linkValues()),
  onShare: async (button) => {
    const url = new URL(serviceLink(), window.location.href).href;
    button.textContent = (await copyText(url)) ? 'Link copied ✓' : 'Copy failed';
    setTimeout(() => { button.textContent = 'Copy link'; }, 1800);
  },
});

// --- links ------------------------------------------------------------------------------

// The query bar's time format travels in links under a key no parameter can have (a
// hyphen is not allowed in a Python name), so a link made in MJD reopens in MJD.
const FORMAT_KEY = 'time-format';

/** `#/service/<name>?<params>` or `#/job/<id>` → what to show (and the time format). */
export function parseRoute(hash) {
  const text = hash.replace(/^#\/?/, '');
  const q = text.indexOf('?');
  const path = q >= 0 ? text.slice(0, q) : text;
  const query = new URLSearchParams(q >= 0 ? text.slice(q + 1) : '');
  const format = ['isot', 'mjd'].includes(query.get(FORMAT_KEY)) ? query.get(FORMAT_KEY) : null;
  query.delete(FORMAT_KEY);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'job' && parts[1]) return { job: parts[1], format };
  if (parts[0] === 'service' && parts[1]) {
    const params = Object.fromEntries(query);
    return { service: parts[1], params: Object.keys(params).length ? params : null, format };
  }
  return { format };
}

/** The link of the form shown (or of service `name` with the bar's values only). */
function serviceLink(name) {
  const target = name || (service && service.name);
  if (!target) return '#/';
  const query = new URLSearchParams(name ? {} : form.linkValues());
  query.set(FORMAT_KEY, bar.format);
  return `#/service/${encodeURIComponent(target)}?${query}`;
}

function jobLink(id) {
  return `#/job/${encodeURIComponent(id)}?${FORMAT_KEY}=${bar.format}`;
}

function setLink(hash, { push = false } = {}) {
  if (hash === window.location.hash) return;
  if (push) window.history.pushState(null, '', hash);
  else window.history.replaceState(null, '', hash);
  lastRoute = window.location.hash;
}

/** Go to `hash` as a new history entry and show it. */
function navigate(hash) {
  window.history.pushState(null, '', hash);
  applyRoute();
}

/** The URL follows the form (unless a job is shown: then it names the job). */
function formChanged() {
  clearTimeout(linkTimer);
  linkTimer = setTimeout(() => {
    if (currentJob) setLink(jobLink(currentJob));
    else if (service) setLink(serviceLink());
    form.refreshCode();
  }, 250);
}

async function describe(name) {
  if (!details.has(name)) details.set(name, await getJSON(`services/${encodeURIComponent(name)}`));
  return details.get(name);
}

/** Show a service's form, with `values` (from a link or a job) or its defaults. */
async function openService(name, values) {
  if (!name) {
    replace($('#service-form'), h('div', { class: 'card empty' },
      h('p', { text: 'No services are available on this server yet.' })));
    return;
  }
  let detail;
  try {
    detail = await describe(name);
  } catch (error) {
    replace($('#service-form'), h('div', { class: 'card' }, h('p', { class: 'notice', dataset: { kind: 'error' } },
      error instanceof ApiError && error.status === 404
        ? `There is no service named “${name}” here${getToken() ? '' : ' (it may need you to sign in)'}.`
        : `The service ${name} could not be loaded: ${error.message}`)));
    return;
  }
  const changed = !service || service.name !== detail.name;
  service = detail;
  if (changed) form.show(detail);
  catalog.select(detail.name);
  if (values) form.setValues(values);
  else if (changed) form.setValues({}, { bar: false });
  form.seedBar();
  bar.markUsed(form.boundRoles(), detail.title);
  document.title = `${detail.title || detail.name} · astroflow`;
}

async function applyRoute() {
  const hash = window.location.hash;
  if (hash === lastRoute) return;
  lastRoute = hash;
  const route = parseRoute(hash);
  if (route.format) bar.setFormat(route.format, { remember: false });
  if (route.job) {
    currentJob = route.job;
    recent.render();
    let record = null;
    try {
      record = await jobs.open(route.job);
    } catch {
      return;
    }
    if (record) await openService(record.service, record.parameters);
    return;
  }
  currentJob = null;
  jobs.clear();
  recent.render();
  const name = route.service || catalog.first();
  await openService(name, route.params);
  if (name && service) setLink(serviceLink());
}

// --- jobs -------------------------------------------------------------------------------

let submitting = false;

async function submit() {
  if (!service || submitting) return;
  submitting = true;
  form.setBusy(true);
  try {
    await form.settled();
    const { parameters, errors } = form.collect();
    if (errors) return;
    form.showNotice('Sending…');
    const { data } = await api(`services/${encodeURIComponent(service.name)}/jobs`, { method: 'POST', json: { parameters } });
    form.showNotice('');
    currentJob = data.id;
    setLink(jobLink(data.id), { push: true });
    recent.remember({ ...data, service: data.service || service.name });
    await jobs.open(data);
    $('#job').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && error.errors.length) {
      form.showServerErrors(error.errors, error.message);
    } else if (error instanceof ApiError && error.status === 401) {
      form.showNotice(`Your token was refused (${error.message}). Sign in again or sign out.`, 'error');
    } else if (error instanceof ApiError && error.status === 429) {
      form.showNotice(`${error.message}. Wait for some of your jobs to finish, then try again.`, 'error');
    } else {
      form.showNotice(`The job could not be submitted: ${error.message}`, 'error');
    }
  } finally {
    submitting = false;
    form.setBusy(false);
  }
}

// --- services and sign-in ----------------------------------------------------------------

function banner(text, actions = []) {
  const box = $('#banner');
  if (!text) {
    box.hidden = true;
    replace(box);
    return;
  }
  replace(box, h('p', { text }), actions);
  box.hidden = false;
}

async function loadServices() {
  try {
    const list = await getJSON('services');
    catalog.setServices(list);
    banner('');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      banner(`Your saved token was refused: ${error.message}.`, [
        h('button', { type: 'button', class: 'small', onClick: () => openSignIn() }, 'Sign in again'),
        h('button', { type: 'button', class: 'small', onClick: () => setToken('') }, 'Sign out')]);
    } else {
      banner(`The list of services could not be loaded: ${error.message}`);
    }
    catalog.setServices([]);
  }
}

onTokenChange(async () => {
  details.clear();
  service = null;
  await loadServices();
  lastRoute = null;
  await applyRoute();
});

// --- start ------------------------------------------------------------------------------

async function start() {
  initSignIn();
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  window.addEventListener('hashchange', () => applyRoute());
  window.addEventListener('popstate', () => applyRoute());
  recent.render();
  await loadServices();
  await applyRoute();
  recent.refresh();
  document.documentElement.dataset.ready = 'true';
}

start();
