// The sign-in dialog and the header's identity button: how a visitor gets a token into
// js/auth.js. Kept out of app.js so the portal's wiring does not grow with each sign-in method.

import { authHeaders, claims, getToken, onTokenChange, setToken } from './auth.js';

const $ = (selector) => document.querySelector(selector);

function showIdentity() {
  const token = getToken();
  const button = $('#signin-btn');
  const who = token ? claims(token) : null;
  button.textContent = token ? (who && who.sub ? who.sub : 'Signed in') : 'Sign in';
  button.dataset.signedIn = token ? 'true' : 'false';
  button.setAttribute('aria-label', token ? `Signed in${who && who.sub ? ` as ${who.sub}` : ''}: manage token` : 'Sign in with a token');
}

/** Open the sign-in dialog (the header button, or a banner after a refused token). */
export function openSignIn() {
  const dialog = $('#signin-dialog');
  const token = getToken();
  const who = token ? claims(token) : null;
  $('#token-input').value = '';
  const status = $('#token-status');
  if (token) {
    const roles = who && Array.isArray(who.roles) && who.roles.length ? ` with roles ${who.roles.join(', ')}` : '';
    const expires = who && who.exp ? `; the token expires ${new Date(who.exp * 1000).toLocaleString()}` : '';
    status.textContent = `Signed in${who && who.sub ? ` as ${who.sub}` : ''}${roles}${expires}.`;
  } else {
    status.textContent = 'Paste an access token to see restricted services and your private jobs.';
  }
  status.dataset.kind = 'info';
  $('#signout-btn').hidden = !token;
  dialog.showModal();
  $('#token-input').focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
  const status = $('#token-status');
  if (!token) {
    status.textContent = 'Paste a token first.';
    status.dataset.kind = 'error';
    return;
  }
  // Check the token before keeping it: a typo should not lock the visitor out.
  const response = await fetch('api/v1/services', { headers: { Accept: 'application/json', ...authHeaders(token) } });
  if (response.status === 401) {
    let reason = 'the server refused it';
    try { reason = (await response.json()).error.message || reason; } catch { /* keep */ }
    status.textContent = `This token was refused: ${reason}.`;
    status.dataset.kind = 'error';
    return;
  }
  setToken(token);
  $('#signin-dialog').close();
}

/** Wire the header button and the dialog; the caller reacts to sign-in via onTokenChange. */
export function initSignIn() {
  $('#signin-btn').addEventListener('click', openSignIn);
  $('#signin-form').addEventListener('submit', signIn);
  $('#signout-btn').addEventListener('click', () => {
    setToken('');
    $('#signin-dialog').close();
  });
  $('#signin-cancel').addEventListener('click', () => $('#signin-dialog').close());
  onTokenChange(showIdentity);
  showIdentity();
}
