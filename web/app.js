// app.js - the page of `cnn serve` and `cnn train --serve`, against the JSON API of
// docs/SERVE.md. Plain ES2020, no framework and no build step: the file is embedded in the cnn
// binary as it is.
//
// Sections: the API and messages; drawing helpers (images, tiles, charts, the colormap); the
// input (drawing, files, samples) and the top-5; the network graph and a layer's maps,
// histogram and filters; explanations; the convolution arithmetic; live training; start.
//
// Every request goes through api(), which turns a {"error": ...} answer into an Error, and
// every event handler through guarded(), which shows such an Error in #messages: a failure is
// always visible, never only in the console.

const $ = (id) => document.getElementById(id);

const state = {
  info: null, // GET /api/info
  graph: null, // GET /api/graph
  image: null, // the image shown: {id, shape: [C, H, W], pixels: Uint8Array, top}
  layer: null, // the layer selected in the graph (an element of graph.layers)
};

/* ------------------------------------------------------------------------------------------
 * The API and messages
 * ---------------------------------------------------------------------------------------- */

/** Requests path and returns its JSON; throws an Error with the server's message otherwise. */
async function api(path, init = {}) {
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the status line below says what went wrong.
  }
  const what = `${init.method ?? 'GET'} /${path}`;
  if (!response.ok) {
    throw new Error(`${what}: ${body?.error ?? `${response.status} ${response.statusText}`}`);
  }
  if (body === null) throw new Error(`${what}: the answer is not JSON`);
  return body;
}

/** The bytes of a base64 string (the API's binary arrays). */
function bytes(base64) {
  const text = atob(base64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Shows an error in the message area until the user closes it. */
function showError(error) {
  const item = document.createElement('div');
  item.className = 'message';
  item.textContent = error instanceof Error ? error.message : String(error);
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.title = 'dismiss';
  close.addEventListener('click', () => item.remove());
  item.append(close);
  $('messages').append(item);
}

/** An event handler that runs fn (sync or async) and shows its failure, if any. */
function guarded(fn) {
  return (...args) => {
    Promise.resolve()
      .then(() => fn(...args))
      .catch(showError);
  };
}

/** Waits for every task and shows each failure (Promise.all would keep only the first). */
async function settle(tasks) {
  for (const result of await Promise.allSettled(tasks)) {
    if (result.status === 'rejected') showError(result.reason);
  }
}

// Answers can arrive out of order (a slow layer after a fast one); a view draws an answer only
// if it asked nothing newer since. ticket('maps') returns a function that says so.
const latest = {};
function ticket(view) {
  const mine = (latest[view] = (latest[view] ?? 0) + 1);
  return () => latest[view] === mine;
}

/** Marks an element loading, ready, empty or failed (the style dims it; the test waits on it). */
function setState(element, value) {
  element.dataset.state = value;
}

/* ------------------------------------------------------------------------------------------
 * Formatting and drawing helpers
 * ---------------------------------------------------------------------------------------- */

/** 61706 -> "61.7k": parameter and multiply-add counts. */
function compact(n) {
  if (n < 1e3) return String(n);
  const [scale, unit] = n < 1e6 ? [1e3, 'k'] : n < 1e9 ? [1e6, 'M'] : [1e9, 'G'];
  return `${(n / scale).toFixed(1)}${unit}`;
}

/** A number with 3 significant digits, without trailing zeros. */
function short(x) {
  return String(Number(x.toPrecision(3)));
}

const percent = (p) => `${(100 * p).toFixed(1)}%`;
const shapeText = (shape) => shape.join('×');

/** A scale factor that makes size pixels about target pixels wide (at least 1, an integer so
 * that every pixel stays a square). */
const fit = (size, target) => Math.max(1, Math.round(target / size));

/** A canvas of w×h pixels from RGBA bytes, shown scale times larger (pixelated by CSS). */
function canvasOf(rgba, w, h, scale) {
  const canvas = document.createElement('canvas');
  paint(canvas, rgba, w, h, scale);
  return canvas;
}

/** Puts RGBA bytes into canvas (resized to w×h) and sets its displayed size. */
function paint(canvas, rgba, w, h, scale) {
  canvas.width = w;
  canvas.height = h;
  canvas.classList.add('pixelated');
  canvas.style.width = `${w * scale}px`;
  canvas.style.height = `${h * scale}px`;
  canvas.getContext('2d').putImageData(new ImageData(rgba, w, h), 0, 0);
}

/** RGBA of a grey plane (bytes 0..255). Index writes, not rgba.set([...]): a layer's maps
 * are up to millions of pixels, and an array per pixel made a click take a second. */
function greyRGBA(plane) {
  const rgba = new Uint8ClampedArray(plane.length * 4);
  for (let i = 0, j = 0; i < plane.length; i++, j += 4) {
    rgba[j] = rgba[j + 1] = rgba[j + 2] = plane[i];
    rgba[j + 3] = 255;
  }
  return rgba;
}

/** RGBA of an image of C planes: grey for 1, colour for 3 (other counts: the first plane). */
function imageRGBA(pixels, [c, h, w]) {
  const n = h * w;
  if (c !== 3) return greyRGBA(pixels.subarray(0, n));
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    rgba[j] = pixels[i];
    rgba[j + 1] = pixels[n + i];
    rgba[j + 2] = pixels[2 * n + i];
    rgba[j + 3] = 255;
  }
  return rgba;
}

/** Turbo colormap (Mikhailov 2019, polynomial fit): t in [0, 1] -> [r, g, b] bytes. Its
 * lightness rises and falls smoothly, so a heat map reads well over a grey image. */
function turbo(t) {
  const poly = (c) => c.reduceRight((acc, k) => acc * t + k, 0);
  const r = poly([0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943]);
  const g = poly([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]);
  const b = poly([0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]);
  return [r, g, b].map((v) => Math.round(255 * Math.min(1, Math.max(0, v))));
}

/** About count round tick values between lo and hi (steps of 1, 2 or 5 times a power of 10). */
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12))); // 0.30000000000000004 -> 0.3
  }
  return ticks;
}

/**
 * A small chart on canvas: axes with ticks and labels, then the series (lines, dots where
 * markers is set) and a legend, or whatever chart.draw(ctx, sx, sy) paints (histogram bars).
 * chart: {x: [lo, hi], y: [lo, hi], xLabel, yLabel, yFormat, yWhole, series: [{label, color,
 * points: [[x, y]], markers}], draw}
 */
function drawChart(canvas, chart) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const box = { left: 54, right: width - 14, top: 24, bottom: height - 36 };
  const [x0, x1] = chart.x;
  const [y0, y1] = chart.y;
  const sx = (x) => box.left + ((x - x0) / (x1 - x0 || 1)) * (box.right - box.left);
  const sy = (y) => box.bottom - ((y - y0) / (y1 - y0 || 1)) * (box.bottom - box.top);
  const yFormat = chart.yFormat ?? short;

  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#555';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(x0, x1, 6)) {
    gridLine(ctx, sx(t), box.top, sx(t), box.bottom);
    ctx.fillText(short(t), sx(t), box.bottom + 5);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  // Counts take whole ticks only: a histogram of 2 values has no tick at 0.5.
  for (const t of niceTicks(y0, y1, 5).filter((v) => !chart.yWhole || Number.isInteger(v))) {
    gridLine(ctx, box.left, sy(t), box.right, sy(t));
    ctx.fillText(yFormat(t), box.left - 6, sy(t));
  }
  ctx.strokeStyle = '#333';
  ctx.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(chart.xLabel, (box.left + box.right) / 2, height - 2);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(chart.yLabel, 4, 4);

  chart.draw?.(ctx, sx, sy);
  for (const s of chart.series ?? []) drawSeries(ctx, s, sx, sy);
  drawLegend(ctx, chart.series ?? [], box.right);
}

function gridLine(ctx, xa, ya, xb, yb) {
  ctx.strokeStyle = '#e4e4e4';
  ctx.beginPath();
  ctx.moveTo(xa, ya);
  ctx.lineTo(xb, yb);
  ctx.stroke();
}

function drawSeries(ctx, series, sx, sy) {
  ctx.strokeStyle = ctx.fillStyle = series.color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  series.points.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
  ctx.stroke();
  if (!series.markers) return;
  for (const [x, y] of series.points) {
    ctx.beginPath();
    ctx.arc(sx(x), sy(y), 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function drawLegend(ctx, series, right) {
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  let x = right;
  for (const s of [...series].reverse()) {
    ctx.fillStyle = '#333';
    ctx.fillText(s.label, x, 12);
    x -= ctx.measureText(s.label).width + 6;
    ctx.fillStyle = s.color;
    ctx.fillRect(x - 14, 10, 14, 4);
    x -= 26;
  }
}

/* ------------------------------------------------------------------------------------------
 * Input: drawing, files, samples; the top-5
 * ---------------------------------------------------------------------------------------- */

function setupDrawing() {
  const canvas = $('draw');
  const ctx = canvas.getContext('2d');
  let last = null; // the pointer's previous point while a stroke is drawn
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [
      ((event.clientX - r.left) * canvas.width) / r.width,
      ((event.clientY - r.top) * canvas.height) / r.height,
    ];
  };
  const strokeTo = (point) => {
    // Light strokes on black: MNIST and Fashion-MNIST images are light on a dark background.
    ctx.strokeStyle = 'white';
    ctx.lineWidth = Number($('brush').value);
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...point);
    ctx.stroke();
    last = point;
  };
  const end = () => {
    if (!last) return;
    last = null;
    guarded(submitDrawing)();
  };
  // Pointer events cover the mouse, a pen and touch alike (touch-action: none in the CSS keeps
  // a finger from scrolling the page instead).
  canvas.addEventListener('pointerdown', (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    strokeTo(last); // a click makes a dot
  });
  canvas.addEventListener('pointermove', (event) => last && strokeTo(at(event)));
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', clearDrawing);
  clearDrawing();
}

function clearDrawing() {
  const canvas = $('draw');
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

async function submitDrawing() {
  const blob = await new Promise((resolve) => $('draw').toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the browser could not encode the drawing as a PNG');
  await upload(blob);
}

function setupFiles() {
  const drop = $('drop');
  $('file').addEventListener(
    'change',
    guarded(async (event) => {
      const file = event.target.files[0];
      event.target.value = ''; // choosing the same file again is a new change
      if (file) await upload(file);
    }),
  );
  drop.addEventListener('dragover', (event) => {
    event.preventDefault(); // allows the drop
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener(
    'drop',
    guarded(async (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      const file = event.dataTransfer.files[0];
      if (!file) throw new Error('drop a PNG or JPEG file');
      await upload(file);
    }),
  );
}

/** Sends an image file's bytes as they are (the server decodes and resizes it). */
async function upload(blob) {
  const limit = state.info.max_upload;
  if (blob.size > limit) {
    throw new Error(`${blob.name ?? 'the image'} has ${blob.size} bytes; the server takes ${limit}`);
  }
  const current = ticket('image');
  const answer = await api('api/images', {
    method: 'POST',
    headers: { 'Content-Type': blob.type || 'application/octet-stream' },
    body: blob,
  });
  if (current()) await showImage(answer, '');
}

function setupSamples() {
  const count = state.info.samples;
  if (!(count > 0)) return;
  $('samples').hidden = false;
  const index = $('sample-index');
  index.max = count - 1;
  $('sample-show').addEventListener(
    'click',
    guarded(() => showSample(Number(index.value))),
  );
  index.addEventListener('keydown', (event) => event.key === 'Enter' && $('sample-show').click());
  $('sample-random').addEventListener(
    'click',
    guarded(() => {
      index.value = Math.floor(Math.random() * count);
      return showSample(Number(index.value));
    }),
  );
}

/** Test sample n: its true class (GET /api/samples/n) beside the network's top-5. */
async function showSample(n) {
  if (!Number.isInteger(n)) throw new Error('a sample is a whole number');
  const current = ticket('image');
  const [sample, answer] = await Promise.all([
    api(`api/samples/${n}`),
    api(`api/images?sample=${n}`, { method: 'POST' }),
  ]);
  if (current()) await showImage(answer, `sample ${n}, true class: ${sample.name}`, sample.label);
}

/** A new image from the server: it, its top-5, and every view of it. */
async function showImage(answer, label, trueClass) {
  state.image = { id: answer.id, shape: answer.shape, pixels: bytes(answer.data), top: answer.top };
  const sampleLabel = $('sample-label');
  sampleLabel.textContent = label;
  sampleLabel.dataset.label = trueClass ?? '';
  const [c, h, w] = answer.shape;
  const rgba = imageRGBA(state.image.pixels, answer.shape);
  paint($('seen'), rgba, w, h, fit(w, 140));
  paint($('explain-image'), rgba, w, h, fit(w, 280));
  $('seen-shape').textContent = `(${c}×${h}×${w})`;
  renderTop5(answer.top, trueClass);
  $('explain-class').value = answer.top[0].class;
  convSetInput();
  await settle([refreshLayer(), refreshExplanation()]);
}

function renderTop5(top, trueClass) {
  const list = $('top5');
  list.replaceChildren(
    ...top.map((entry) => {
      const row = document.createElement('li');
      row.dataset.class = entry.class;
      row.dataset.p = entry.p;
      row.classList.toggle('true-class', entry.class === trueClass);
      row.title = 'explain this class';
      row.innerHTML = '<span class="name"></span><span class="bar"><span></span></span><span class="p"></span>';
      row.querySelector('.name').textContent = entry.name;
      row.querySelector('.bar > span').style.width = percent(entry.p);
      row.querySelector('.p').textContent = percent(entry.p);
      return row;
    }),
  );
  list.dataset.image = state.image.id;
}

/* ------------------------------------------------------------------------------------------
 * The network graph; a layer's feature maps, histogram and filters
 * ---------------------------------------------------------------------------------------- */

const SVG = 'http://www.w3.org/2000/svg';
const BOX = { x: 8, w: 270, h: 38, gap: 16 };
const LANE = 9; // the distance between the vertical lines of skip connections

function svg(tag, attributes, parent) {
  const element = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
  parent?.append(element);
  return element;
}

/**
 * Gives every skip edge (an input that is not the layer just above) a lane on the right of the
 * boxes, the lowest one that no overlapping edge uses, so that parallel branches stay apart.
 */
function assignLanes(edges) {
  const lanes = []; // per lane, the [from, to] spans it holds
  for (const edge of [...edges].sort((a, b) => a.to - a.from - (b.to - b.from))) {
    let lane = lanes.findIndex((spans) => spans.every(([f, t]) => edge.to < f || edge.from > t));
    if (lane < 0) lane = lanes.push([]) - 1;
    lanes[lane].push([edge.from, edge.to]);
    edge.lane = lane;
  }
  return lanes.length;
}

/** The network as an SVG: one box per layer, top to bottom in order, with its input edges. */
function renderGraph(graph) {
  const layers = graph.layers;
  const top = (i) => i * (BOX.h + BOX.gap) + 4;
  const middle = (i) => top(i) + BOX.h / 2;
  const right = BOX.x + BOX.w;
  const skips = [];
  for (const layer of layers) {
    for (const from of layer.inputs) {
      if (from !== layer.index - 1) skips.push({ from, to: layer.index });
    }
  }
  const laneCount = assignLanes(skips);
  const root = svg('svg', {
    width: right + 14 + laneCount * LANE,
    height: top(layers.length),
    role: 'list',
  });
  const defs = svg('defs', {}, root);
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
  svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrowhead' }, marker);

  const edges = svg('g', { class: 'edges' }, root);
  for (const layer of layers) {
    if (layer.inputs.includes(layer.index - 1)) {
      const x = BOX.x + BOX.w / 2;
      svg('line', { x1: x, y1: top(layer.index - 1) + BOX.h, x2: x, y2: top(layer.index), 'marker-end': 'url(#arrow)' }, edges);
    }
  }
  for (const edge of skips) {
    const x = right + 10 + edge.lane * LANE;
    const d = `M${right},${middle(edge.from)} H${x} V${middle(edge.to)} H${right}`;
    svg('path', { d, class: 'skip', 'marker-end': 'url(#arrow)' }, edges);
  }
  for (const layer of layers) root.append(layerBox(layer, top(layer.index)));

  root.addEventListener('click', (event) => {
    const box = event.target.closest('g.layer');
    if (box) guarded(selectLayer)(layers[Number(box.dataset.index)]);
  });
  root.addEventListener('keydown', (event) => {
    const box = event.target.closest('g.layer');
    if (box && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      guarded(selectLayer)(layers[Number(box.dataset.index)]);
    }
  });
  $('graph').replaceChildren(root);
}

function layerBox(layer, y) {
  const g = svg('g', {
    class: `layer type-${layer.type}`,
    'data-index': layer.index,
    'data-layer': layer.name,
    'data-type': layer.type,
    tabindex: 0,
    role: 'listitem',
  });
  const details = `${shapeText(layer.shape)} · ${compact(layer.params)} params · ${compact(layer.macs)} MACs`;
  svg('title', {}, g).textContent = `${layer.name} (${layer.type}) ${layer.args}\n${details}`;
  svg('rect', { x: BOX.x, y, width: BOX.w, height: BOX.h, rx: 5 }, g);
  const name = svg('text', { x: BOX.x + 8, y: y + 15, class: 'name' }, g);
  name.textContent = layer.name.length > 26 ? `${layer.name.slice(0, 25)}…` : layer.name;
  svg('text', { x: BOX.x + BOX.w - 8, y: y + 15, class: 'type' }, g).textContent = layer.type;
  svg('text', { x: BOX.x + 8, y: y + 31, class: 'details' }, g).textContent = details;
  return g;
}

const hasFilters = (layer) => ['conv2d', 'conv1d', 'conv_transpose2d'].includes(layer.type);

async function selectLayer(layer) {
  state.layer = layer;
  for (const box of document.querySelectorAll('#graph g.layer')) {
    box.classList.toggle('selected', Number(box.dataset.index) === layer.index);
  }
  $('layer-title').textContent = `${layer.name} (${layer.type}) ${shapeText(layer.shape)}`;
  $('layer-args').textContent = layer.args || 'no arguments';
  await refreshLayer();
}

/** Fetches and draws the selected layer's views: maps and histogram of the image, filters. */
async function refreshLayer() {
  const layer = state.layer;
  if (!layer) return;
  const tasks = [];
  $('filters-block').hidden = !hasFilters(layer);
  if (hasFilters(layer)) tasks.push(showLayerFilters(layer));
  if (state.image) {
    tasks.push(showMaps(layer, state.image), showHistogram(layer, state.image));
  } else {
    $('maps-caption').textContent = 'Draw, drop or pick an image to see its feature maps here.';
  }
  await settle(tasks);
}

async function showMaps(layer, image) {
  const box = $('maps');
  const current = ticket('maps');
  setState(box, 'loading');
  try {
    const maps = await api(`api/images/${image.id}/layers/${layer.index}/maps`);
    if (!current()) return;
    renderMaps(box, maps);
    box.dataset.layer = layer.name;
    box.dataset.image = image.id;
    setState(box, 'ready');
  } catch (error) {
    if (current()) setState(box, 'error');
    throw error;
  }
}

/** Feature maps: one pixelated tile per channel; a flat layer (shape [K]) as a bar strip. */
function renderMaps(box, maps) {
  const pixels = bytes(maps.data);
  if (maps.shape.length === 1) {
    box.replaceChildren(barStrip(pixels, maps.min[0], maps.max[0]));
    $('maps-caption').textContent = `${maps.shape[0]} values from ${short(maps.min[0])} to ${short(maps.max[0])}; the line is 0`;
    return;
  }
  // [C, H, W], or [C, L] of a 1-D layer as C strips of one row.
  const [c, h, w] = maps.shape.length === 3 ? maps.shape : [maps.shape[0], 1, maps.shape[1]];
  const scale = fit(Math.max(h, w), 80);
  const tiles = [];
  for (let ch = 0; ch < c; ch++) {
    const tile = canvasOf(greyRGBA(pixels.subarray(ch * h * w, (ch + 1) * h * w)), w, h, scale);
    tile.dataset.channel = ch;
    tile.title = `channel ${ch}: ${short(maps.min[ch])} (black) to ${short(maps.max[ch])} (white)`;
    tiles.push(tile);
  }
  box.replaceChildren(...tiles);
  $('maps-caption').textContent = `${c} channels of ${h}×${w}, each from its own minimum (black) to its maximum (white)`;
}

/** A vector's values as bars above or below a zero line; bytes are 255 (v - lo) / (hi - lo). */
function barStrip(values, lo, hi) {
  const canvas = document.createElement('canvas');
  const bar = Math.max(1, Math.min(24, Math.floor(640 / values.length)));
  canvas.width = values.length * bar;
  canvas.height = 64;
  canvas.className = 'strip';
  canvas.dataset.testid = 'maps-strip';
  canvas.dataset.values = values.length;
  const ctx = canvas.getContext('2d');
  const value = (b) => lo + (b / 255) * (hi - lo);
  const top = Math.max(hi, 0);
  const bottom = Math.min(lo, 0);
  const y = (v) => ((top - v) / (top - bottom || 1)) * canvas.height;
  values.forEach((b, i) => {
    const v = value(b);
    ctx.fillStyle = v >= 0 ? '#2b6cb0' : '#c53030';
    ctx.fillRect(i * bar, Math.min(y(v), y(0)), bar, Math.max(1, Math.abs(y(v) - y(0))));
  });
  ctx.fillStyle = '#333';
  ctx.fillRect(0, Math.min(y(0), canvas.height - 1), canvas.width, 1);
  return canvas;
}

async function showHistogram(layer, image) {
  const canvas = $('hist');
  const current = ticket('hist');
  setState(canvas, 'loading');
  try {
    const hist = await api(`api/images/${image.id}/layers/${layer.index}/hist?bins=40`);
    if (!current()) return;
    renderHistogram(canvas, hist);
    canvas.dataset.layer = layer.name;
    setState(canvas, 'ready');
  } catch (error) {
    if (current()) setState(canvas, 'error');
    throw error;
  }
}

function renderHistogram(canvas, hist) {
  const width = (hist.hi - hist.lo) / hist.bins;
  drawChart(canvas, {
    x: [hist.lo, hist.hi],
    y: [0, Math.max(1, ...hist.counts)],
    xLabel: 'activation',
    yLabel: 'count',
    yWhole: true,
    draw(ctx, sx, sy) {
      ctx.fillStyle = '#4a78b5';
      hist.counts.forEach((count, i) => {
        const x = sx(hist.lo + i * width);
        ctx.fillRect(x, sy(count), Math.max(1, sx(hist.lo + (i + 1) * width) - x - 1), sy(0) - sy(count));
      });
    },
  });
  $('hist-caption').textContent = `mean ${short(hist.mean)}, standard deviation ${short(hist.std)}, ${percent(hist.zero_fraction)} zeros`;
}

async function showLayerFilters(layer) {
  const box = $('filters');
  const current = ticket('filters');
  setState(box, 'loading');
  try {
    const filters = await api(`api/layers/${layer.index}/filters`);
    if (!current()) return;
    renderFilters(box, $('filters-caption'), filters);
    setState(box, 'ready');
  } catch (error) {
    if (current()) setState(box, 'error');
    throw error;
  }
}

// Filters shown of a layer, and input channels per filter: all of a 512x512 layer would be
// 262144 tiles, and even 64x16 of them take a second to lay out.
const MAX_FILTERS = 32;
const MAX_INPUTS = 8;

/**
 * A convolution's weights ([O, I, KH, KW], or [O, I, K] of a 1-D one), bytes as
 * round(127.5 + 127.5 w / max_abs): one group of tiles per filter, a tile per input channel,
 * grey for 0, white for +max_abs, black for -max_abs; a filter on 3 channels is one colour tile
 * (the classic look of a first layer on RGB images).
 */
function renderFilters(box, caption, filters) {
  const [o, i, kh, kw] = filters.shape.length === 4 ? filters.shape : [...filters.shape.slice(0, 2), 1, filters.shape[2]];
  const weights = bytes(filters.data);
  const size = i * kh * kw;
  const scale = fit(Math.max(kh, kw), 36);
  const shownFilters = Math.min(o, MAX_FILTERS);
  const shownInputs = i === 3 ? 1 : Math.min(i, MAX_INPUTS);
  const groups = [];
  for (let f = 0; f < shownFilters; f++) {
    const group = document.createElement('div');
    group.className = 'filter';
    group.dataset.filter = f;
    const own = weights.subarray(f * size, (f + 1) * size);
    if (i === 3) {
      group.append(canvasOf(imageRGBA(own, [3, kh, kw]), kw, kh, scale));
    } else {
      for (let c = 0; c < shownInputs; c++) {
        group.append(canvasOf(greyRGBA(own.subarray(c * kh * kw, (c + 1) * kh * kw)), kw, kh, scale));
      }
    }
    groups.push(group);
  }
  box.replaceChildren(...groups);
  let text = `${o} filters of ${i}×${kh}×${kw}: grey is 0, white +${short(filters.max_abs)}, black −${short(filters.max_abs)}`;
  if (shownFilters < o || (i !== 3 && shownInputs < i)) {
    text += ` (shown: ${shownFilters} filters, ${shownInputs} input channels each)`;
  }
  caption.textContent = text;
}

/* ------------------------------------------------------------------------------------------
 * Explanations: Grad-CAM, saliency, guided backpropagation over the image
 * ---------------------------------------------------------------------------------------- */

function setupExplanations() {
  const classes = $('explain-class');
  classes.replaceChildren(...state.info.classes.map((name, k) => new Option(`${k}: ${name}`, k)));
  // Grad-CAM can look at any layer of maps; by default the server takes the last convolution.
  const layers = state.graph.layers.filter((l) => l.shape.length === 3 && l.type !== 'input');
  $('explain-layer').replaceChildren(
    new Option('default (the last maps)', ''),
    ...layers.map((l) => new Option(l.name, l.index)),
  );
  const refresh = guarded(refreshExplanation);
  for (const id of ['explain-class', 'explain-method', 'explain-layer']) {
    $(id).addEventListener('change', refresh);
  }
  $('explain-method').addEventListener('change', showExplainLayer);
  $('explain-alpha').addEventListener('input', setOverlayAlpha);
  $('top5').addEventListener('click', (event) => {
    const row = event.target.closest('li');
    if (!row) return;
    classes.value = row.dataset.class;
    refresh();
  });
  const bar = $('explain-colorbar');
  const rgba = new Uint8ClampedArray(bar.width * 4);
  for (let x = 0; x < bar.width; x++) rgba.set([...turbo(x / (bar.width - 1)), 255], 4 * x);
  bar.getContext('2d').putImageData(new ImageData(rgba, bar.width, 1), 0, 0);
  showExplainLayer();
  setOverlayAlpha();
}

function showExplainLayer() {
  $('explain-layer-label').hidden = $('explain-method').value !== 'gradcam';
}

function setOverlayAlpha() {
  $('explain-overlay').style.opacity = Number($('explain-alpha').value) / 100;
}

async function refreshExplanation() {
  const image = state.image;
  if (!image) return;
  const overlay = $('explain-overlay');
  const method = $('explain-method').value;
  const query = new URLSearchParams({ method, class: $('explain-class').value });
  if (method === 'gradcam' && $('explain-layer').value !== '') query.set('layer', $('explain-layer').value);
  const current = ticket('explain');
  setState(overlay, 'loading');
  try {
    const answer = await api(`api/images/${image.id}/explain?${query}`);
    if (!current()) return;
    renderHeat(overlay, answer, image);
    overlay.dataset.method = answer.method;
    overlay.dataset.image = image.id;
    setState(overlay, 'ready');
  } catch (error) {
    if (current()) setState(overlay, 'error');
    throw error;
  }
}

/**
 * An explanation as a heat map: the bytes back to values (min + b (max - min) / 255), the
 * largest magnitude over channels per pixel (guided backpropagation has one gradient per
 * channel, of either sign), divided by the largest in the image, through the colormap.
 */
function renderHeat(canvas, answer, image) {
  const data = bytes(answer.data);
  const [h, w] = answer.shape.slice(-2);
  const channels = answer.shape.length === 3 ? answer.shape[0] : 1;
  const step = (answer.max - answer.min) / 255;
  const heat = new Float32Array(h * w);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < h * w; p++) {
      heat[p] = Math.max(heat[p], Math.abs(answer.min + data[c * h * w + p] * step));
    }
  }
  const peak = heat.reduce((a, b) => Math.max(a, b), 0) || 1;
  const colours = Array.from({ length: 256 }, (_, i) => turbo(i / 255)); // the data are bytes
  const rgba = new Uint8ClampedArray(h * w * 4);
  heat.forEach((v, p) => rgba.set([...colours[Math.round((255 * v) / peak)], 255], 4 * p));
  paint(canvas, rgba, w, h, fit(image.shape[2], 280));
  const name = state.info.classes[answer.class] ?? answer.class;
  const where = answer.method === 'gradcam' ? ` at ${answer.layer}` : '';
  $('explain-caption').textContent = `${$('explain-method').selectedOptions[0].text} for “${name}”${where}; values from ${short(answer.min)} to ${short(answer.max)}`;
}

/* ------------------------------------------------------------------------------------------
 * Convolution arithmetic: a kernel slides over the grey image, the output grows pixel by pixel
 * ---------------------------------------------------------------------------------------- */

const conv = {
  kernels: [], // {name, kh, kw, k: Float32Array (row-major)}
  grey: null, // the input in [0, 1], h×w
  h: 0,
  w: 0,
  settings: null, // {kernel, stride, pad, dil} of the result
  result: null, // {oh, ow, out: Float32Array, lo, hi} of the current settings
  pos: 0, // output pixels computed so far
  playing: false,
};

/** out = floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, as PyTorch's Conv2d. */
const outSize = (n, k, stride, pad, dil) => Math.floor((n + 2 * pad - dil * (k - 1) - 1) / stride) + 1;

/** The classic kernels and, when the model has a convolution, its first layer's filters.
 * A filter over several input channels becomes one kernel, the sum over its channels: on a
 * grey image repeated in every channel that sum is exactly what the filter computes. */
function setupConv(classic, filters) {
  conv.kernels = classic.kernels.map((k) => ({ name: k.name, kh: 3, kw: 3, k: Float32Array.from(k.k) }));
  const select = $('conv-kernel');
  const group = document.createElement('optgroup');
  group.label = 'classic';
  group.append(...conv.kernels.map((k, i) => new Option(k.name, i)));
  select.replaceChildren(group);
  if (filters) {
    const [o, i, kh, kw] = filters.shape;
    const weights = bytes(filters.data);
    const model = document.createElement('optgroup');
    model.label = `the model's ${filters.layer}`;
    for (let f = 0; f < o; f++) {
      const k = new Float32Array(kh * kw);
      for (let c = 0; c < i; c++) {
        for (let j = 0; j < kh * kw; j++) {
          k[j] += ((weights[(f * i + c) * kh * kw + j] - 127.5) / 127.5) * filters.max_abs;
        }
      }
      conv.kernels.push({ name: `${filters.layer} filter ${f}`, kh, kw, k });
      model.append(new Option(`filter ${f}`, conv.kernels.length - 1));
    }
    select.append(model);
  }
  $('conv-kernel').addEventListener('change', convCompute);
  for (const id of ['conv-stride', 'conv-pad', 'conv-dil']) $(id).addEventListener('input', convCompute);
  $('conv-play').addEventListener('click', convPlayPause);
  $('conv-step').addEventListener('click', () => {
    convPause();
    convAdvance(1);
  });
  $('conv-reset').addEventListener('click', () => {
    convPause();
    conv.pos = 0;
    convDraw();
  });
}

/** The current image in grey (the mean of its channels, in [0, 1]) as the convolution's input. */
function convSetInput() {
  const [c, h, w] = state.image.shape;
  const pixels = state.image.pixels;
  conv.grey = new Float32Array(h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < h * w; p++) conv.grey[p] += pixels[ch * h * w + p] / 255 / c;
  }
  conv.h = h;
  conv.w = w;
  convCompute();
}

function convSettings() {
  const int = (id, lo) => Math.max(lo, Math.floor(Number($(id).value)) || lo);
  return {
    kernel: conv.kernels[Number($('conv-kernel').value)],
    stride: int('conv-stride', 1),
    pad: int('conv-pad', 0),
    dil: int('conv-dil', 1),
  };
}

/** The whole output of the current settings, computed at once; the animation reveals it. */
function convCompute() {
  if (!conv.grey || !conv.kernels.length) return;
  convPause();
  const s = convSettings();
  const { kh, kw } = s.kernel;
  const oh = outSize(conv.h, kh, s.stride, s.pad, s.dil);
  const ow = outSize(conv.w, kw, s.stride, s.pad, s.dil);
  conv.settings = s;
  conv.pos = 0;
  conv.result = { oh, ow, out: null, lo: 0, hi: 0 };
  if (oh > 0 && ow > 0) {
    const out = new Float32Array(oh * ow);
    for (let p = 0; p < oh * ow; p++) out[p] = convAt(s, Math.floor(p / ow), p % ow);
    conv.result.out = out;
    conv.result.lo = out.reduce((a, b) => Math.min(a, b), Infinity);
    conv.result.hi = out.reduce((a, b) => Math.max(a, b), -Infinity);
  }
  renderWeights(s.kernel);
  renderFormula(s, oh, ow);
  convDraw();
}

/** Output pixel (r, c): the sum of weight × input over the window, zero padding outside. The
 * [weight, input] pairs go into terms when it is given (only for the pixel described: a list
 * per pixel would cost millions of arrays on a 224x224 image). */
function convAt(s, r, c, terms = null) {
  const { kh, kw, k } = s.kernel;
  let sum = 0;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const y = r * s.stride - s.pad + a * s.dil;
      const x = c * s.stride - s.pad + b * s.dil;
      const v = y >= 0 && y < conv.h && x >= 0 && x < conv.w ? conv.grey[y * conv.w + x] : 0;
      sum += k[a * kw + b] * v;
      terms?.push([k[a * kw + b], v]);
    }
  }
  return sum;
}

function renderFormula(s, oh, ow) {
  const line = (n, k) => `floor((${n} + 2*${s.pad} - ${s.dil}*(${k} - 1) - 1) / ${s.stride}) + 1 = ${outSize(n, k, s.stride, s.pad, s.dil)}`;
  const { kh, kw } = s.kernel;
  const lines = ['out = floor((in + 2*pad - dil*(k - 1) - 1) / stride) + 1'];
  if (conv.h === conv.w && kh === kw) {
    lines.push(`out = ${line(conv.h, kh)}   (height and width)`);
  } else {
    lines.push(`out height = ${line(conv.h, kh)}`, `out width = ${line(conv.w, kw)}`);
  }
  lines.push(oh > 0 && ow > 0 ? `${conv.h}×${conv.w} -> ${oh}×${ow}` : 'the window is larger than the padded input: no output');
  $('conv-formula').textContent = lines.join('\n');
  $('conv-formula').dataset.out = `${oh}x${ow}`;
}

/** The kernel's weights in a grid, blue for negative and red for positive. */
function renderWeights({ kh, kw, k }) {
  const box = $('conv-weights');
  const peak = k.reduce((a, b) => Math.max(a, Math.abs(b)), 0) || 1;
  box.style.gridTemplateColumns = `repeat(${kw}, auto)`;
  box.replaceChildren(
    ...Array.from(k, (v) => {
      const cell = document.createElement('span');
      const t = Math.abs(v) / peak;
      cell.style.background = v < 0 ? `rgba(49, 130, 206, ${t})` : `rgba(229, 62, 62, ${t})`;
      cell.textContent = kh * kw <= 49 ? v.toFixed(2) : '';
      cell.title = String(v);
      return cell;
    }),
  );
}

function convPlayPause() {
  if (conv.playing) return convPause();
  const total = conv.result?.out ? conv.result.oh * conv.result.ow : 0;
  if (!total) return;
  if (conv.pos >= total) conv.pos = 0; // play again from the start
  conv.playing = true;
  $('conv-play').textContent = 'Pause';
  requestAnimationFrame(convTick);
}

function convPause() {
  conv.playing = false;
  $('conv-play').textContent = 'Play';
}

function convTick() {
  if (!conv.playing) return;
  convAdvance(2 ** Number($('conv-speed').value));
  const { oh, ow } = conv.result;
  if (conv.pos >= oh * ow) convPause();
  else requestAnimationFrame(convTick);
}

function convAdvance(pixels) {
  const { oh, ow, out } = conv.result ?? {};
  if (!out) return;
  conv.pos = Math.min(oh * ow, conv.pos + pixels);
  convDraw();
}

/** Draws the padded input with the window, the output so far, and the last pixel's sum. */
function convDraw() {
  if (!conv.result) return; // no image yet
  const { oh, ow, out, lo, hi } = conv.result;
  const s = conv.settings;
  const ph = conv.h + 2 * s.pad;
  const pw = conv.w + 2 * s.pad;
  const cell = Math.max(1, Math.floor(300 / Math.max(ph, pw)));
  const input = $('conv-input');
  input.width = pw * cell;
  input.height = ph * cell;
  const ctx = input.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#3b2a5c'; // the zero padding, told apart from black pixels of the image
  ctx.fillRect(0, 0, input.width, input.height);
  const rgba = greyRGBA(Uint8ClampedArray.from(conv.grey, (v) => 255 * v));
  ctx.drawImage(canvasOf(rgba, conv.w, conv.h, 1), s.pad * cell, s.pad * cell, conv.w * cell, conv.h * cell);

  const output = $('conv-output');
  output.width = Math.max(1, ow) * cell;
  output.height = Math.max(1, oh) * cell;
  const octx = output.getContext('2d');
  octx.clearRect(0, 0, output.width, output.height);
  output.dataset.computed = conv.pos;
  if (!out) {
    $('conv-current').textContent = '';
    return;
  }
  const shown = new Uint8ClampedArray(oh * ow * 4); // transparent until computed
  for (let p = 0; p < conv.pos; p++) {
    const g = Math.round((255 * (out[p] - lo)) / (hi - lo || 1));
    shown.set([g, g, g, 255], 4 * p);
  }
  octx.imageSmoothingEnabled = false;
  octx.drawImage(canvasOf(shown, ow, oh, 1), 0, 0, ow * cell, oh * cell);

  const p = Math.max(0, conv.pos - 1); // the pixel just computed (or the first, before any)
  const r = Math.floor(p / ow);
  const c = p % ow;
  drawWindow(ctx, s, r, c, cell);
  octx.strokeStyle = '#f6ad55';
  octx.lineWidth = 2;
  octx.strokeRect(c * cell + 1, r * cell + 1, cell - 2, cell - 2);
  describePixel(s, r, c);
}

/** The window of output pixel (r, c): the cells it reads (spread by the dilation) and its
 * extent, in padded-input coordinates. */
function drawWindow(ctx, s, r, c, cell) {
  const { kh, kw } = s.kernel;
  const y0 = r * s.stride;
  const x0 = c * s.stride;
  ctx.fillStyle = 'rgba(246, 173, 85, 0.45)';
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      ctx.fillRect((x0 + b * s.dil) * cell, (y0 + a * s.dil) * cell, cell, cell);
    }
  }
  ctx.strokeStyle = '#f6ad55';
  ctx.lineWidth = 2;
  ctx.strokeRect(x0 * cell + 1, y0 * cell + 1, ((kw - 1) * s.dil + 1) * cell - 2, ((kh - 1) * s.dil + 1) * cell - 2);
}

function describePixel(s, r, c) {
  const terms = [];
  const sum = convAt(s, r, c, terms);
  const total = conv.result.oh * conv.result.ow;
  const products = terms.length <= 9 ? ` = ${terms.map(([w, v]) => `${w.toFixed(2)}·${v.toFixed(2)}`).join(' + ')}` : '';
  const head = conv.pos ? `y[${r}, ${c}] = Σ w·x${products} = ${sum.toFixed(3)}` : 'press Play or Step';
  $('conv-current').textContent = `${head}   (${conv.pos} of ${total} output pixels)`;
}

/* ------------------------------------------------------------------------------------------
 * Live training (cnn train --serve): server-sent events from /api/train/events
 * ---------------------------------------------------------------------------------------- */

const train = {
  run: null, // the run event: {model, params, epochs, steps, batch, classes}
  steps: [], // [x in epochs, loss, accuracy] of the step events
  epochs: [], // the epoch events, by epoch number
  done: false,
};

function startTraining() {
  document.body.classList.add('train-mode');
  const source = new EventSource('api/train/events');
  const handlers = { run: onRun, step: onStep, epoch: onEpoch, filters: onFilters, done: onDone };
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (error) {
        showError(new Error(`training event "${name}": ${error.message}`));
      }
      // The server ends the stream after done; closing first keeps EventSource from
      // reconnecting and receiving the whole history again.
      if (name === 'done') source.close();
    });
  }
  source.addEventListener('error', () => {
    if (train.done) return;
    if (source.readyState === EventSource.CLOSED) {
      showError(new Error('the training run\'s event stream closed before the run ended'));
      setTrainStatus('lost', 'disconnected');
    } else {
      setTrainStatus('reconnecting', 'reconnecting…');
    }
  });
  drawCurves();
}

function setTrainStatus(value, text) {
  const status = $('train-status');
  status.dataset.state = value;
  status.textContent = text;
}

function onRun(run) {
  train.run = run;
  $('summary').textContent = `training ${run.model} · ${run.params.toLocaleString('en-US')} parameters · ${run.classes.length} classes`;
  $('train-run').textContent = `${run.epochs} epochs of ${run.steps} steps, batches of ${run.batch}`;
  setTrainStatus('running', 'running');
  drawCurves();
}

function onStep(step) {
  train.steps.push([step.epoch - 1 + step.step / step.steps, step.loss, step.accuracy]);
  const epochs = train.run?.epochs ?? step.epoch;
  setProgress('train-epoch', step.epoch - 1 + step.step / step.steps, epochs, `${step.epoch} / ${epochs}`);
  setProgress('train-step', step.step, step.steps, `${step.step} / ${step.steps}`);
  $('train-speed').textContent = `${Math.round(step.images_per_sec).toLocaleString('en-US')} images/s · loss ${step.loss.toFixed(4)} · accuracy ${percent(step.accuracy)} · lr ${short(step.lr)}`;
  if (!train.done) setTrainStatus('running', 'running');
  drawCurves();
}

function setProgress(id, value, max, text) {
  const bar = $(`${id}-progress`);
  bar.max = max;
  bar.value = value;
  $(`${id}-text`).textContent = text;
}

function onEpoch(epoch) {
  train.epochs[epoch.epoch] = epoch; // by number: a replayed history changes nothing
  const optional = (v, f) => (v === null || v === undefined ? '–' : f(v));
  const row = document.createElement('tr');
  row.dataset.epoch = epoch.epoch;
  const cells = [
    epoch.epoch,
    epoch.loss.toFixed(4),
    percent(epoch.accuracy),
    optional(epoch.val_loss, (v) => v.toFixed(4)),
    optional(epoch.val_accuracy, percent),
    short(epoch.lr),
    epoch.seconds.toFixed(1),
  ];
  for (const text of cells) row.insertCell().textContent = text;
  const body = $('train-epochs').tBodies[0];
  const old = body.querySelector(`tr[data-epoch="${epoch.epoch}"]`);
  if (old) old.replaceWith(row);
  else body.append(row);
  drawCurves();
}

function onFilters(filters) {
  renderFilters($('train-filters'), $('train-filters-caption'), filters);
  setState($('train-filters'), 'ready');
}

function onDone(done) {
  train.done = true;
  setTrainStatus('done', done.stopped ? 'done (stopped early)' : 'done');
}

/** Loss and accuracy against epochs: training (each step's running value, then each epoch's)
 * and validation (each epoch's). */
function drawCurves() {
  const epochs = train.epochs.filter(Boolean);
  const lastEpoch = Math.max(1, train.run?.epochs ?? 0, ...epochs.map((e) => e.epoch));
  const trainPoints = (key, stepIndex) =>
    [...train.steps.map((s) => [s[0], s[stepIndex]]), ...epochs.map((e) => [e.epoch, e[key]])].sort((a, b) => a[0] - b[0]);
  const valPoints = (key) => epochs.filter((e) => e[key] !== null && e[key] !== undefined).map((e) => [e.epoch, e[key]]);
  const curves = (key, stepIndex) => [
    { label: 'training', color: '#2b6cb0', points: trainPoints(key, stepIndex) },
    { label: 'validation', color: '#dd6b20', points: valPoints(`val_${key}`), markers: true },
  ];
  const loss = curves('loss', 1);
  const highest = Math.max(0, ...loss.flatMap((s) => s.points.map((p) => p[1])));
  drawChart($('train-loss'), { x: [0, lastEpoch], y: [0, highest * 1.05 || 1], xLabel: 'epoch', yLabel: 'loss', series: loss });
  drawChart($('train-accuracy'), {
    x: [0, lastEpoch],
    y: [0, 1],
    xLabel: 'epoch',
    yLabel: 'accuracy',
    yFormat: (v) => `${Math.round(100 * v)}%`,
    series: curves('accuracy', 2),
  });
  $('train-loss').dataset.points = epochs.length;
}

/* ------------------------------------------------------------------------------------------
 * Start
 * ---------------------------------------------------------------------------------------- */

async function main() {
  state.info = await api('api/info');
  if (state.info.mode === 'train') {
    startTraining();
    document.body.dataset.state = 'ready';
    return;
  }
  const [graph, kernels] = await Promise.all([api('api/graph'), api('api/kernels')]);
  state.graph = graph;
  const [c, h, w] = state.info.input;
  // The model is named by its file: the base name here, the whole path on hover.
  $('summary').title = state.info.model;
  $('summary').textContent = `${state.info.model.split('/').pop()} · input ${c}×${h}×${w} · ${state.info.classes.length} classes · ${graph.params.toLocaleString('en-US')} parameters · ${compact(graph.macs)} multiply-adds`;
  const firstConv = graph.layers.find((l) => l.type === 'conv2d');
  const filters = firstConv ? await api(`api/layers/${firstConv.index}/filters`) : null;
  setupDrawing();
  setupFiles();
  setupSamples();
  setupExplanations();
  setupConv(kernels, filters);
  renderGraph(graph);
  const tasks = [];
  const first = firstConv ?? graph.layers[graph.layers.length - 1];
  if (first) tasks.push(selectLayer(first));
  // Something to look at from the start: the first test sample, when there are samples.
  if (state.info.samples > 0) tasks.push(showSample(0));
  await settle(tasks);
  document.body.dataset.state = 'ready';
}

main().catch((error) => {
  showError(error);
  document.body.dataset.state = 'failed';
});
