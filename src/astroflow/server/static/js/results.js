// A done job's products, each shown by its type: plots, images, tables, pictures, text,
// values; with download buttons for every format the server offers.

import { apiUrl, browserUrl, download, getJSON, rel } from './api.js';
import { getToken } from './auth.js';
import { bytes, h, replace, uid } from './dom.js';
import { drawFigure, setAxisType, yAxes } from './plot.js';
import { TableView } from './table.js';

const TYPE_LABELS = {
  lightcurve: 'Light curve', spectrum: 'Spectrum', image: 'Image', table: 'Table',
  picture: 'Picture', text: 'Text', scalar: 'Value', binary: 'File', file: 'File',
};
const FORMAT_LABELS = { fits: 'FITS', ecsv: 'ECSV', votable: 'VOTable', csv: 'CSV', json: 'JSON', png: 'PNG', txt: 'Text', jpeg: 'JPEG', svg: 'SVG', gif: 'GIF', bin: 'Binary' };
const SCALES = ['linear', 'log', 'sqrt'];

function downloads(product) {
  return h('div', { class: 'downloads', role: 'group', 'aria-label': `Download ${product.title || product.name}` },
    h('span', { class: 'small-label', text: 'Download' }),
    (product.formats || []).map((fmt) => {
      const href = apiUrl(product.url, { format: fmt });
      const link = h('a', { class: 'button small', href, download: '', dataset: { format: fmt } }, FORMAT_LABELS[fmt] || fmt.toUpperCase());
      link.addEventListener('click', (event) => {
        if (getToken()) {  // a plain link cannot carry the Authorization header
          event.preventDefault();
          download(href, '').catch((error) => { link.title = error.message; });
        }
      });
      return link;
    }));
}

function scalarText(preview) {
  const { value } = preview;
  if (typeof value === 'number') {
    const abs = Math.abs(value);
    if (Number.isInteger(value)) return value.toLocaleString('en');
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(4) : String(Number(value.toPrecision(6)));
  }
  if (value === null || value === undefined) return '—';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Structured values (or JSON held in a string) indented; other text as it is. */
function pretty(value) {
  let data = value;
  if (typeof value === 'string' && /^\s*[[{]/.test(value)) {
    try { data = JSON.parse(value); } catch { return value; }
  }
  return typeof data === 'string' ? data : JSON.stringify(data, null, 2);
}

/** A switch (checkbox) with its label, calling `onToggle(checked)`. */
function toggle(text, checked, onToggle) {
  const id = uid('toggle');
  const input = h('input', { type: 'checkbox', role: 'switch', id, checked });
  input.addEventListener('change', () => onToggle(input.checked));
  return h('label', { class: 'switch small', for: id }, input, h('span', { class: 'track', 'aria-hidden': 'true' }), h('span', { class: 'label-text', text }));
}

async function plotBody(body, product, preview, tools) {
  const isImage = (preview.figure.data || []).some((trace) => trace.type === 'heatmap');
  const panels = ((preview.figure.layout || {}).meta || {}).panels || 1;
  const plot = h('div', { class: isImage ? 'plot image-plot' : 'plot', role: 'img', 'aria-label': `${TYPE_LABELS[product.type] || 'Plot'}: ${product.title || product.name}`, dataset: { panels } });
  if (panels > 1) plot.style.height = `${Math.max(380, 150 * panels + 80)}px`;  // each quantity its own panel
  replace(body, plot);
  await drawFigure(plot, preview.figure, { name: product.name, image: isImage });
  if (isImage) {
    const id = uid('scale');
    const select = h('select', { id, class: 'small' }, SCALES.map((s) => h('option', { value: s, text: s, selected: s === (preview.scale || 'linear') })));
    select.addEventListener('change', async () => {
      plot.setAttribute('aria-busy', 'true');
      try {
        const next = await getJSON(product.preview, { scale: select.value });
        await drawFigure(plot, next.figure, { name: product.name, image: true });
        plot.dataset.scale = next.scale;
      } finally {
        plot.removeAttribute('aria-busy');
      }
    });
    plot.dataset.scale = preview.scale || 'linear';
    const shape = preview.shape ? h('span', { class: 'muted small', text: `${preview.shape.join(' × ')} pixels${preview.step > 1 ? `, shown 1:${preview.step}` : ''}` }) : null;
    const target = preview.target ? h('span', { class: 'muted small image-target', text: `○ ${preview.target}` }) : null;
    replace(tools, h('label', { for: id, class: 'small-label' }, 'Colour scale'), select, shape, target);
  } else {
    const layout = preview.figure.layout || {};
    const count = preview.rows ?? countPoints(preview.figure);  // a table's rows, not traces' points
    replace(tools,
      toggle('log x', (layout.xaxis || {}).type === 'log', (on) => setAxisType(plot, 'xaxis', on)),
      toggle('log y', (layout.yaxis || {}).type === 'log', (on) => setAxisType(plot, yAxes(layout), on)),
      h('span', { class: 'muted small point-count', text: `${count.toLocaleString('en')} ${product.type === 'lightcurve' ? 'points' : 'rows'}` }));
  }
}

function countPoints(figure) {
  return (figure.data || []).reduce((n, trace) => n + ((trace.x || []).filter((x, i) => x !== null && (trace.y || [])[i] !== null).length), 0);
}

async function previewBody(body, tools, product) {
  const first = await getJSON(product.preview, product.type === 'table' || product.type === 'lightcurve' || product.type === 'spectrum' ? { limit: 50 } : undefined);
  switch (first.kind) {
    case 'plotly':
      await plotBody(body, product, first, tools);
      break;
    case 'table':
      replace(body, new TableView(product.preview, first, { caption: product.title || product.name }).element);
      break;
    case 'scalar': {
      const text = scalarText(first);
      if (typeof first.value !== 'object' && text.length <= 32 && !text.includes('\n')) {
        replace(body, h('p', { class: 'scalar' },
          h('span', { class: 'value', text }),
          first.unit ? h('span', { class: 'unit', text: ` ${first.unit}` }) : null));
      } else {
        // Long strings and structures read better as a block, across the whole row.
        body.closest('.product')?.classList.add('wide');
        replace(body, h('pre', { class: 'text-product value', tabindex: '0', text: pretty(first.value) }));
      }
      break;
    }
    case 'text':
      replace(body, h('pre', { class: 'text-product', tabindex: '0' }, first.text),
        first.truncated ? h('p', { class: 'muted small', text: 'Shortened here; download the whole text below.' }) : null);
      break;
    case 'picture': {
      const img = h('img', { class: 'picture', alt: product.description || product.title || product.name, loading: 'lazy' });
      if (first.width) img.width = first.width;
      if (first.height) img.height = first.height;
      replace(body, img);
      img.src = await browserUrl(apiUrl(product.url, { format: first.format || 'png' }));
      break;
    }
    default:
      replace(body, h('p', { class: 'muted', text: `No preview for this product${first.bytes ? ` (${bytes(first.bytes)})` : ''}; download it below.` }));
  }
}

/** One product as a card; the preview fills in when it arrives. */
function productCard(product) {
  const body = h('div', { class: 'product-body' }, h('p', { class: 'muted loading', text: 'Loading preview…' }));
  const tools = h('div', { class: 'product-tools' });
  const card = h('section', { class: ['card', 'product', `product-${product.type}`], dataset: { product: product.name, type: product.type }, 'aria-label': product.title || product.name },
    h('header', { class: 'product-head' },
      h('h3', {}, product.title || product.name, product.unit ? h('span', { class: 'unit', text: ` [${product.unit}]` }) : null),
      h('span', { class: 'badge type', text: TYPE_LABELS[product.type] || product.type }),
      tools),
    product.description ? h('p', { class: 'muted description', text: product.description }) : null,
    body,
    downloads(product));
  previewBody(body, tools, product).catch((error) => {
    replace(body, h('p', { class: 'notice', dataset: { kind: 'error' }, text: `Preview unavailable: ${error.message}` }));
  });
  return card;
}

/** All products of `job`, scalars first as a compact strip. */
export function renderProducts(container, job) {
  const products = job.products || [];
  if (!products.length) {
    replace(container, h('p', { class: 'muted', text: 'This job produced no products.' }));
    return;
  }
  const scalars = products.filter((p) => p.type === 'scalar');
  const others = products.filter((p) => p.type !== 'scalar');
  replace(container,
    scalars.length ? h('div', { class: 'scalars' }, scalars.map(productCard)) : null,
    others.map(productCard));
}

/** "Download all": one zip with every product, the executed notebook and the provenance. */
function archiveLink(job) {
  const name = `${job.service}-${job.id}.zip`;
  const href = apiUrl(`jobs/${encodeURIComponent(job.id)}/archive`);
  const a = h('a', { class: 'button small primary download-all', href, download: name, title: 'Every product in its stored formats, the executed notebook and the provenance, as one zip' }, 'Download all (.zip)');
  a.addEventListener('click', (event) => {
    if (getToken()) {  // a plain link cannot carry the Authorization header
      event.preventDefault();
      download(href, name).catch((error) => { a.title = error.message; });
    }
  });
  return a;
}

/** Links to the executed notebook and the whole job as one zip (provenance: its own view). */
export function jobLinks(job) {
  const links = job.links || {};
  const open = (url, label, hint) => {
    const a = h('a', { href: url, target: '_blank', rel: 'noopener', class: 'button small', title: hint }, label);
    a.addEventListener('click', async (event) => {
      if (getToken()) {
        event.preventDefault();
        const win = window.open('', '_blank');
        try {
          const href = await browserUrl(url);
          if (win) win.location.href = href;
        } catch (error) {
          if (win) win.close();
          a.title = error.message;
        }
      }
    });
    return a;
  };
  return [
    links.notebook ? open(apiUrl(rel(links.notebook), { format: 'html' }), 'Executed notebook', 'The notebook as it ran, with its outputs') : null,
    links.notebook ? open(apiUrl(rel(links.notebook), { format: 'ipynb' }), '.ipynb', 'Download the executed notebook') : null,
    job.state === 'done' || links.notebook ? archiveLink(job) : null,
  ];
}
