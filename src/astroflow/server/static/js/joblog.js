// A job's log (what its run printed on stdout and stderr) under a "Log" disclosure, read in
// pieces from GET jobs/{id}/log?offset=N while the job runs, and once more when it has ended.

import { getJSON } from './api.js';
import { h, replace } from './dom.js';

const POLL_MS = 700;
const KEEP_CHARS = 500_000;  // the page keeps the log's tail; the whole log is in the archive

/** Terminal colour codes from IPython tracebacks, shown as plain text. */
function plain(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

/** The "Log" disclosure of job `id`; it reads only while open and while `signal` lives. */
export function logDisclosure(id, signal) {
  const pre = h('pre', { class: 'job-log-text', tabindex: '0', 'aria-label': 'Job log (stdout and stderr)' });
  const status = h('p', { class: 'muted small job-log-status', 'aria-live': 'polite' });
  const details = h('details', { class: 'job-log', dataset: { log: id } },
    h('summary', {}, 'Log'), status, pre);
  let offset = 0;
  let timer = null;
  let reading = false;
  let complete = false;

  async function read() {
    timer = null;
    if (reading || complete || !details.open || signal.aborted || !details.isConnected) return;
    reading = true;
    try {
      const piece = await getJSON(`jobs/${encodeURIComponent(id)}/log`, { offset }, signal);
      if (piece.text) {
        const text = (pre.textContent + plain(piece.text));
        pre.textContent = text.length > KEEP_CHARS ? text.slice(-KEEP_CHARS) : text;
        pre.scrollTop = pre.scrollHeight;
      }
      offset = piece.next_offset;
      complete = piece.complete;
      details.dataset.complete = String(complete);
      status.textContent = complete
        ? (piece.size ? `${piece.size.toLocaleString('en')} bytes, the whole log.` : 'The run printed nothing.')
        : `Following the running job… (${offset.toLocaleString('en')} bytes so far)`;
    } catch (error) {
      if (signal.aborted) return;
      status.textContent = `The log could not be read: ${error.message}`;
    } finally {
      reading = false;
    }
    if (!complete && details.open && !signal.aborted) timer = setTimeout(read, POLL_MS);
  }

  details.addEventListener('toggle', () => {
    if (details.open && !timer) read();
  });
  signal.addEventListener('abort', () => clearTimeout(timer));
  return {
    element: details,
    /** The job ended: read what is left (when open). */
    ended() {
      if (details.open && !complete && !timer && !reading) read();
    },
    reset() { offset = 0; complete = false; replace(pre); },
  };
}
