// Plotly, loaded only when a plot is first drawn (4.8 MB that the first paint never waits for),
// and the portal's look applied to the figures the preview endpoint builds.

import { h } from './dom.js';

// The server fills the version in (plotly.py's own plotly.js): part of the URL, cached a year.
export const PLOTLY_VERSION = document.querySelector('meta[name="plotly-version"]')?.content ?? '';
let loading = null;

/** The global Plotly object, loading the vendored bundle once. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = h('script', { src: `static/vendor/plotly/plotly.min.js?v=${PLOTLY_VERSION}`, async: true });
      script.addEventListener('load', () => resolve(window.Plotly));
      script.addEventListener('error', () => {
        loading = null;
        reject(new Error('the plotting library could not be loaded'));
      });
      document.head.append(script);
    });
  }
  return loading;
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const AXIS = {
  showline: true, linecolor: '#9aa4b2', mirror: true, ticks: 'outside', tickcolor: '#9aa4b2',
  gridcolor: '#e8ecf1', zeroline: false, automargin: true, exponentformat: 'power',
};

/**
 * Whether an axis holds large numbers best written out (MJD 60310, not 6.031×10⁴);
 * tiny or huge values (fluxes of 1e-12) keep powers of ten.
 */
function plainNumbers(data, axis) {
  let max = 0;
  for (const trace of data) {
    for (const v of trace[axis] || []) if (typeof v === 'number' && Math.abs(v) > max) max = Math.abs(v);
  }
  return max >= 1e3 && max < 1e9;
}

/** The server's layout with the portal's fonts, grid and margins (its own settings win). */
function styled(layout, data, { image }) {
  const out = structuredClone(layout || {});
  out.font = { family: FONT, size: 13, color: '#1d2733', ...(out.font || {}) };
  out.paper_bgcolor = 'rgba(0,0,0,0)';
  out.plot_bgcolor = image ? '#ffffff' : '#fbfcfe';
  delete out.title;  // the product card already carries the title
  out.margin = { l: 64, r: 24, t: 16, b: 56, ...(out.margin || {}) };
  out.hovermode = out.hovermode || 'closest';
  out.separators = out.separators || '.';  // MJD 60310, not 60,310
  out.legend = { orientation: 'h', y: -0.22, ...(out.legend || {}) };
  // Every axis, also the y axes of stacked panels (yaxis2, yaxis3 …).
  const keys = new Set(['xaxis', 'yaxis', ...Object.keys(out).filter((k) => /^[xy]axis\d+$/.test(k))]);
  for (const key of keys) {
    const format = plainNumbers(data, key[0]) ? { exponentformat: 'none', separatethousands: false } : {};
    out[key] = { ...AXIS, ...format, ...(image ? { showgrid: false, mirror: 'ticks' } : {}), ...(out[key] || {}) };
  }
  out.autosize = true;
  return out;
}

/** Draw (or redraw) a preview figure into `element`. */
export async function drawFigure(element, figure, { name, image = false } = {}) {
  const Plotly = await loadPlotly();
  const config = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ['lasso2d', 'select2d'],
    toImageButtonOptions: { format: 'png', filename: name || 'astroflow-plot', scale: 2 },
  };
  await Plotly.react(element, figure.data || [], styled(figure.layout, figure.data || [], { image }), config);
  return element;
}

/** The names of a figure's y axes: `yaxis`, then those of stacked panels. */
export function yAxes(layout) {
  return ['yaxis', ...Object.keys(layout || {}).filter((k) => /^yaxis\d+$/.test(k)).sort()];
}

/** Switch an axis (or several: every panel's y axis) between linear and logarithmic. */
export async function setAxisType(element, axis, log) {
  const Plotly = await loadPlotly();
  const update = {};
  for (const name of Array.isArray(axis) ? axis : [axis]) {
    update[`${name}.type`] = log ? 'log' : 'linear';
    update[`${name}.autorange`] = true;
  }
  await Plotly.relayout(element, update);
}
