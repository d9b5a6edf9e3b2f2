// The sign-in dialog and the header's identity button: how a visitor gets a token into
// js/auth.js — a password (local accounts), the operator's OpenID Connect provider, or a
// pasted token — and, once signed in, API tokens for scripts. Kept out of app.js so the
// portal's wiring does not grow with each sign-in method.

import { authHeaders, claims, getToken, onTokenChange, setToken } from './auth.js';
import { copyText, h, replace } from './dom.js';

const $ = (selector) => document.querySelector(selector);
let methods = null;   // GET api/v1/auth: what this server offers

function say(target, text, kind = 'info') {
  const el = $(target);
  el.textContent = text;
  el.dataset.kind = kind;
}

async function errorText(response, fallback) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || fallback;
  } catch {
    return fallback;
  }
}

async function loadMethods() {
  try {
    const response = await fetch('api/v1/auth', { headers: { Accept: 'application/json' } });
    methods = response.ok ? await response.json() : null;
  } catch {
    methods = null;
  }
  return methods;
}

function showIdentity() {
  const token = getToken();
  const button = $('#signin-btn');
  const who = token ? claims(token) : null;
  button.textContent = token ? (who && who.sub ? who.sub : 'Signed in') : 'Sign in';
  button.dataset.signedIn = token ? 'true' : 'false';
  button.setAttribute('aria-label', token ? `Signed in${who && who.sub ? ` as ${who.sub}` : ''}: account and API tokens` : 'Sign in');
}

function describe(who) {
  const roles = who && Array.isArray(who.roles) && who.roles.length ? ` with roles ${who.roles.join(', ')}` : '';
  const expires = who && who.exp ? `; this sign-in lasts until ${new Date(who.exp * 1000).toLocaleString()}` : '';
  return `Signed in${who && who.sub ? ` as ${who.sub}` : ''}${roles}${expires}.`;
}

function renderRoles(who) {
  const box = $('#api-token-roles');
  const roles = who && Array.isArray(who.roles) ? who.roles : [];
  replace(box, h('legend', {}, 'Roles'), roles.map((role) => h('label', { class: 'api-token-role' },
    h('input', { type: 'checkbox', name: 'role', value: role, checked: true }), ` ${role}`)));
  box.hidden = roles.length === 0;
}

/** Open the sign-in dialog (the header button, or a banner after a refused token). */
export async function openSignIn() {
  const dialog = $('#signin-dialog');
  const token = getToken();
  const who = token ? claims(token) : null;
  $('#token-input').value = '';
  say('#token-status', 'Paste an access token to see restricted services and your private jobs.');
  $('#api-token-result').hidden = true;
  say('#api-token-status', '');
  const offered = methods || (await loadMethods()) || {};
  $('#password-form').hidden = Boolean(token) || !offered.password;
  const oidc = $('#oidc-btn');
  oidc.hidden = Boolean(token) || !offered.oidc;
  if (offered.oidc) oidc.textContent = `Sign in with ${offered.oidc.name}`;
  $('#signin-or').hidden = $('#password-form').hidden || oidc.hidden;
  // The token field is the only way in when the server offers nothing else: open it then.
  $('#token-advanced').open = !token && !offered.password && !offered.oidc;
  $('#signin-methods').hidden = false;
  $('#signed-in-panel').hidden = !token;
  $('#signout-btn').hidden = !token;
  $('#signin-title').textContent = token ? 'Your account' : 'Sign in';
  if (token) {
    say('#signin-status', describe(who));
    $('#token-advanced').querySelector('summary').textContent = 'Use another access token';
    renderRoles(who);
  } else {
    say('#signin-status', offered.password || offered.oidc
      ? 'Sign in to see restricted services and your private jobs.' : '');
    $('#token-advanced').querySelector('summary').textContent = 'Paste an access token';
  }
  if (!dialog.open) dialog.showModal();
  const first = token ? $('#api-token-name') : !$('#password-form').hidden ? $('#signin-user')
    : !oidc.hidden ? oidc : $('#token-input');
  first.focus();
}

async function signInWithPassword(event) {
  event.preventDefault();
  const username = $('#signin-user').value.trim();
  const password = $('#signin-password').value;
  if (!username || !password) {
    say('#signin-status', 'Enter your user name and password.', 'error');
    return;
  }
  say('#signin-status', 'Signing in…');
  const response = await fetch('api/v1/auth/login', {
    method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!response.ok) {
    say('#signin-status', await errorText(response, `sign-in failed (HTTP ${response.status})`), 'error');
    $('#signin-password').select();
    return;
  }
  const { token } = await response.json();
  $('#signin-password').value = '';
  setToken(token);
  openSignIn();   // the same dialog now shows who you are and the API-token panel
}

async function signInWithToken(event) {
  event.preventDefault();
  const token = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
  if (!token) {
    say('#token-status', 'Paste a token first.', 'error');
    return;
  }
  // Check the token before keeping it: a typo should not lock the visitor out.
  const response = await fetch('api/v1/services', { headers: { Accept: 'application/json', ...authHeaders(token) } });
  if (response.status === 401) {
    say('#token-status', `This token was refused: ${await errorText(response, 'the server refused it')}.`, 'error');
    return;
  }
  setToken(token);
  $('#signin-dialog').close();
}

function snippet(token) {
  const base = new URL('.', window.location.href).href.replace(/\/$/, '');
  return [
    `token = "${token}"`,
    '',
    '# astroflow Python client (or: export ASTROFLOW_TOKEN=…)',
    'from astroflow.client import Client',
    `client = Client("${base}", token=token)`,
    'client.services()',
    '',
    '# oda_api, through the MMODA dispatcher facade',
    'from oda_api.api import DispatcherAPI',
    `disp = DispatcherAPI(url="${base}/dispatch-data", token=token)`,
    'disp.get_instruments_list()',
  ].join('\n');
}

async function createApiToken(event) {
  event.preventDefault();
  const name = $('#api-token-name').value.trim();
  if (!name) {
    say('#api-token-status', 'Give the token a name, e.g. “laptop”.', 'error');
    $('#api-token-name').focus();
    return;
  }
  const roles = Array.from(document.querySelectorAll('#api-token-roles input:checked'), (el) => el.value);
  say('#api-token-status', 'Creating…');
  const response = await fetch('api/v1/auth/tokens', {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ name, ttl: Number($('#api-token-ttl').value), roles }),
  });
  if (!response.ok) {
    say('#api-token-status', await errorText(response, `HTTP ${response.status}`), 'error');
    return;
  }
  const made = await response.json();
  $('#api-token-value').value = made.token;
  $('#api-token-snippet').textContent = snippet(made.token);
  $('#api-token-result').hidden = false;
  const days = Math.round(made.expires_in / 86400);
  say('#api-token-status', `Token “${made.name}” created for ${days} day${days === 1 ? '' : 's'}.`, 'ok');
  $('#api-token-value').focus();
  $('#api-token-value').select();
}

/** The OpenID Connect callback hands the token over in the URL fragment: keep it, then
 * take it out of the address bar (and history) before anything else reads the route. */
function takeFragment() {
  const hash = window.location.hash;
  const clean = () => history.replaceState(null, '', window.location.pathname + window.location.search);
  if (hash.startsWith('#signed-in=')) {
    setToken(decodeURIComponent(hash.slice('#signed-in='.length)), { quiet: true });
    clean();
  } else if (hash.startsWith('#signin-error=')) {
    const reason = decodeURIComponent(hash.slice('#signin-error='.length));
    clean();
    openSignIn().then(() => say('#signin-status', `Sign-in failed: ${reason}`, 'error'));
  }
}

/** Wire the header button and the dialog; the caller reacts to sign-in via onTokenChange. */
export function initSignIn() {
  takeFragment();
  $('#signin-btn').addEventListener('click', () => openSignIn());
  $('#password-form').addEventListener('submit', signInWithPassword);
  $('#signin-form').addEventListener('submit', signInWithToken);
  $('#api-token-form').addEventListener('submit', createApiToken);
  $('#api-token-copy').addEventListener('click', async () => {
    await copyText($('#api-token-value').value);
    say('#api-token-status', 'Copied.', 'ok');
  });
  $('#signout-btn').addEventListener('click', () => {
    setToken('');
    $('#signin-dialog').close();
  });
  $('#signin-cancel').addEventListener('click', () => $('#signin-dialog').close());
  onTokenChange(showIdentity);
  showIdentity();
}
