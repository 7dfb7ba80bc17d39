// serve.test.mjs - the page of `cnn serve` in a real browser (headless Chromium through
// playwright-core), against a running server (issue 18, docs/SERVE.md):
//   - the page loads with no console error, no failed request and no 4xx/5xx answer;
//   - a drawing (mouse strokes) and an uploaded PNG give the top-5 that `cnn predict --json`
//     prints for the same file (for the drawing: the PNG the page uploaded, taken from the
//     request);
//   - a test sample shows its true class (GET /api/samples/N);
//   - clicking each convolution shows one feature-map tile per channel, its histogram and its
//     filters;
//   - the Grad-CAM overlay appears (a canvas of the input's size with pixels that differ), and
//     saliency and guided backpropagation too;
//   - the convolution arithmetic fills in the output-size formula and computes the same pixels
//     as this file does;
//   - an API error (a sample out of range) is shown in the message area;
//   - under `cnn train --serve` (started here) the page receives the 2 epochs and the end.
// Screenshots of the views go into --shots (docs/img/serve-*.png are made so).
//
//   node serve.test.mjs --url URL --cnn BUILD/cnn --model MODEL [--shots DIR] [--chromium PATH]
//                       [--no-train]
// or the environment: CNN_SERVE_URL, CNN_BIN, CNN_MODEL, CNN_SHOTS, CHROMIUM. Prints one line per
// check with its time; exits 1 if any failed.

import { chromium } from 'playwright-core';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const run = promisify(execFile);

/* ------------------------------------------------------------------------------------------
 * Options and checks
 * ---------------------------------------------------------------------------------------- */

function options() {
  const o = {
    url: process.env.CNN_SERVE_URL,
    cnn: process.env.CNN_BIN,
    model: process.env.CNN_MODEL,
    shots: process.env.CNN_SHOTS,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    train: true,
  };
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const key = args[i].replace(/^--/, '');
    if (key === 'no-train') o.train = false;
    else if (key in o && i + 1 < args.length) o[key] = args[++i];
    else usage(`unknown option ${args[i]}`);
  }
  if (!o.url || !o.cnn || !o.model) usage('--url, --cnn and --model are needed');
  o.url = o.url.replace(/\/?$/, '/');
  return o;
}

function usage(why) {
  console.error(`serve.test.mjs: ${why}
usage: node serve.test.mjs --url URL --cnn BUILD/cnn --model MODEL [--shots DIR] [--chromium PATH] [--no-train]`);
  process.exit(2);
}

let failures = 0;

/** Runs one check and prints "ok NAME (MS ms)" or "FAILED NAME: why". */
async function check(name, fn) {
  const start = performance.now();
  try {
    await fn();
    console.log(`ok      ${name} (${Math.round(performance.now() - start)} ms)`);
  } catch (error) {
    failures++;
    console.log(`FAILED  ${name}: ${error.message} (${Math.round(performance.now() - start)} ms)`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/* ------------------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------------- */

/** Collects what must not happen in normal use: console errors, uncaught exceptions, failed
 * requests and answers of status 400 or more. */
function watch(page) {
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The page closes the event stream itself on "done" (lest EventSource reconnect): that
    // stream is aborted, by design.
    const closed = r.url().endsWith('/api/train/events') && r.failure()?.errorText === 'net::ERR_ABORTED';
    if (!closed) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()}: ${r.url()}`));
  return problems;
}

function noProblems(problems) {
  assert(problems.length === 0, problems.join('; '));
}

async function getJSON(url) {
  const response = await fetch(url);
  assert(response.ok, `GET ${url}: ${response.status}`);
  return response.json();
}

/** `cnn predict --json` on a file: [{class, p}] best first, as many as the page shows (5, or
 * every class of a model with fewer). */
async function predict(o, file, classes) {
  const top = String(Math.min(5, classes));
  const { stdout } = await run(o.cnn, ['predict', '--json', '--top', top, o.model, file]);
  const line = JSON.parse(stdout.trim().split('\n')[0]);
  assert(line.top, `cnn predict ${file}: ${line.error ?? stdout}`);
  return line.top.map((t) => ({ class: t.index, p: t.probability }));
}

/** The page's top-5 rows once they show image id. */
async function shownTop5(page, id) {
  await page.waitForSelector(`#top5[data-image="${id}"]`, { timeout: 10000 });
  return page.$$eval('#top5 li', (rows) => rows.map((r) => ({ class: Number(r.dataset.class), p: Number(r.dataset.p) })));
}

/** The same classes in the same order, probabilities equal to the 6 digits both print. */
function sameTop5(shown, expected) {
  const text = (t) => t.map((e) => `${e.class}:${e.p}`).join(' ');
  const same =
    shown.length === expected.length &&
    shown.every((s, i) => s.class === expected[i].class && Math.abs(s.p - expected[i].p) <= 2e-6 + 1e-5 * expected[i].p);
  assert(same, `page ${text(shown)} but cnn predict ${text(expected)}`);
}

/**
 * Records every POST /api/images of page: the body the page sent and the server's answer,
 * through a route that passes the request on unchanged. (Reading them from the request and
 * response events is unreliable: Chromium may drop a blob body or evict the answer from its
 * inspector cache.) Returns next(), a promise of the next upload {body, answer}.
 */
async function recordUploads(page) {
  const waiting = [];
  await page.route(/\/api\/images(\?.*)?$/, async (route) => {
    const request = route.request();
    if (request.method() !== 'POST') return route.continue();
    const response = await route.fetch();
    const text = await response.text();
    await route.fulfill({ response, body: text });
    const upload = { body: request.postDataBuffer(), answer: response.ok() ? JSON.parse(text) : null };
    waiting.shift()?.(upload);
  });
  return () => new Promise((resolve) => waiting.push(resolve));
}

/** A PNG file of w×h RGB pixels (rgb: w*h*3 bytes), written with zlib alone. */
function png(w, h, rgb) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(zlib.crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc(h * (1 + 3 * w)); // each row: filter type 0, then its pixels
  for (let y = 0; y < h; y++) Buffer.from(rgb.buffer, y * 3 * w, 3 * w).copy(rows, y * (1 + 3 * w) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A test image of another size than the network's input, in colour: a light pair of trousers
 * on a dark background (the server resizes and converts it as cnn predict does). */
function trousersPNG() {
  const w = 60;
  const h = 52;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const waist = y >= 4 && y < 12 && x >= 16 && x < 44;
      const legs = y >= 12 && y < 50 && ((x >= 16 && x < 28) || (x >= 32 && x < 44));
      if (waist || legs) rgb.set([230, 200 - y, 170], 3 * (y * w + x));
    }
  }
  return png(w, h, rgb);
}

/** A screenshot of the smallest rectangle around the elements of selectors. */
async function shot(page, dir, name, selectors) {
  if (!dir) return;
  // Bounding boxes are relative to the viewport; a full-page clip to the page.
  const [sx, sy] = await page.evaluate(() => [window.scrollX, window.scrollY]);
  const boxes = [];
  for (const s of selectors) boxes.push(await page.locator(s).boundingBox());
  const x = Math.min(...boxes.map((b) => b.x)) + sx;
  const y = Math.min(...boxes.map((b) => b.y)) + sy;
  const clip = {
    x,
    y,
    width: Math.max(...boxes.map((b) => b.x + b.width)) + sx - x,
    height: Math.max(...boxes.map((b) => b.y + b.height)) + sy - y,
  };
  await page.screenshot({ path: path.join(dir, `serve-${name}.png`), clip, fullPage: true });
}

/** The address a starting cnn prints ("... on http://HOST:PORT/"), within ms. */
function printedAddress(child, ms) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no address printed in ${ms} ms: ${out.slice(-500)}`)), ms);
    child.stdout.on('data', (d) => {
      out += d;
      const url = out.match(/http:\/\/[^\s/]+\//);
      if (url) {
        clearTimeout(timer);
        resolve(url[0]);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited (${code}) before printing its address: ${out.slice(-500)}`)));
  });
}

/* ------------------------------------------------------------------------------------------
 * The checks
 * ---------------------------------------------------------------------------------------- */

async function modelChecks(o, browser, tmp) {
  const info = await getJSON(`${o.url}api/info`);
  const graph = await getJSON(`${o.url}api/graph`);
  const [, h, w] = info.input;
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = watch(page);
  const nextUpload = await recordUploads(page);
  let image = null; // the last answer of POST /api/images

  await check('the page loads: graph, first sample, no console error or failed request', async () => {
    await page.goto(o.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 15000 });
    const boxes = await page.locator('#graph g.layer').count();
    assert(boxes === graph.layers.length, `${boxes} layer boxes for ${graph.layers.length} layers`);
    const skips = graph.layers.reduce((n, l) => n + l.inputs.filter((i) => i !== l.index - 1).length, 0);
    assert((await page.locator('#graph path.skip').count()) === skips, 'not every skip connection is drawn');
    const model = path.basename(info.model);
    assert((await page.textContent('#summary')).includes(model), `the summary does not name ${model}`);
    noProblems(problems);
  });

  await check('a drawing gives the top-5 of cnn predict on the PNG uploaded', async () => {
    await page.locator('#draw').scrollIntoViewIfNeeded();
    const box = await page.locator('#draw').boundingBox();
    const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
    const upload = nextUpload();
    // One stroke (one upload): the outline of a T-shirt-like shape.
    const points = [[0.3, 0.2], [0.15, 0.35], [0.25, 0.45], [0.32, 0.38], [0.32, 0.85], [0.68, 0.85], [0.68, 0.38], [0.75, 0.45], [0.85, 0.35], [0.7, 0.2], [0.3, 0.2]];
    await page.mouse.move(...at(...points[0]));
    await page.mouse.down();
    for (const p of points.slice(1)) await page.mouse.move(...at(...p), { steps: 6 });
    await page.mouse.up();
    const { body, answer } = await upload;
    assert(body && body.subarray(1, 4).toString() === 'PNG', 'the page did not upload a PNG');
    const file = path.join(tmp, 'drawn.png');
    fs.writeFileSync(file, body);
    image = answer;
    sameTop5(await shownTop5(page, image.id), await predict(o, file, info.classes.length));
    noProblems(problems);
  });

  await check('an uploaded PNG (60x52, colour) gives the top-5 of cnn predict', async () => {
    const file = path.join(tmp, 'trousers.png');
    fs.writeFileSync(file, trousersPNG());
    const upload = nextUpload();
    await page.setInputFiles('#file', file);
    image = (await upload).answer;
    assert(image.shape.join() === info.input.join(), `the image is ${image.shape}, the input ${info.input}`);
    sameTop5(await shownTop5(page, image.id), await predict(o, file, info.classes.length));
    noProblems(problems);
  });

  if (info.samples > 0) {
    await check('a test sample shows its true class', async () => {
      const n = Math.min(7, info.samples - 1);
      const sample = await getJSON(`${o.url}api/samples/${n}`);
      await page.fill('#sample-index', String(n));
      const upload = nextUpload();
      await page.click('#sample-show');
      image = (await upload).answer;
      await shownTop5(page, image.id);
      const label = await page.textContent('#sample-label');
      assert(label.includes(sample.name), `the label says "${label}", the sample is ${sample.name}`);
      noProblems(problems);
    });
  }

  const convs = graph.layers.filter((l) => l.type === 'conv2d');
  await check(`each convolution (${convs.map((l) => l.name).join(', ')}) shows a map per channel, its histogram and filters`, async () => {
    assert(convs.length > 0, 'the model has no conv2d layer');
    // The first convolution last: the screenshot then shows maps of the image's size.
    for (const layer of [...convs].reverse()) {
      await page.click(`#graph g.layer[data-layer="${layer.name}"]`);
      await page.waitForSelector(`#maps[data-state="ready"][data-layer="${layer.name}"][data-image="${image.id}"]`, { timeout: 10000 });
      const tiles = await page.locator('#maps canvas[data-channel]').count();
      assert(tiles === layer.shape[0], `${layer.name}: ${tiles} tiles for ${layer.shape[0]} channels`);
      await page.waitForSelector(`#hist[data-state="ready"][data-layer="${layer.name}"]`, { timeout: 10000 });
      await page.waitForSelector('#filters[data-state="ready"]', { timeout: 10000 });
      const filters = await page.locator('#filters .filter').count();
      assert(filters === Math.min(32, layer.shape[0]), `${layer.name}: ${filters} filters shown`);
    }
    await shot(page, o.shots, 'maps', ['#graph-panel', '#layer-panel']);
    noProblems(problems);
  });

  await check('the Grad-CAM overlay appears; saliency and guided backpropagation too', async () => {
    for (const method of ['saliency', 'guided', 'gradcam']) {
      await page.selectOption('#explain-method', method);
      const overlay = `#explain-overlay[data-state="ready"][data-method="${method}"][data-image="${image.id}"]`;
      await page.waitForSelector(overlay, { timeout: 10000 });
      const pixels = await page.$eval('#explain-overlay', (c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const colours = new Set();
        let opaque = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0) opaque++;
          colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        }
        return { w: c.width, h: c.height, opaque, colours: colours.size };
      });
      assert(pixels.w === w && pixels.h === h, `${method}: the overlay is ${pixels.w}x${pixels.h}, the input ${w}x${h}`);
      assert(pixels.opaque > 0 && pixels.colours > 1, `${method}: the overlay is empty or of one colour`);
    }
    await shot(page, o.shots, 'gradcam', ['#explain-panel']);
    noProblems(problems);
  });

  await check('the convolution arithmetic: formula, pixels, animation', async () => {
    const kernels = (await getJSON(`${o.url}api/kernels`)).kernels;
    const k = kernels.length > 1 ? 1 : 0;
    await page.selectOption('#conv-kernel', String(k));
    await page.fill('#conv-stride', '2');
    await page.fill('#conv-pad', '1');
    await page.fill('#conv-dil', '1');
    const outH = Math.floor((h + 2 - 2 - 1) / 2) + 1;
    const outW = Math.floor((w + 2 - 2 - 1) / 2) + 1;
    const formula = await page.textContent('#conv-formula');
    const expected = `floor((${h} + 2*1 - 1*(3 - 1) - 1) / 2) + 1 = ${outH}`;
    assert(formula.includes(expected), `the formula says "${formula}", expected "${expected}"`);
    for (let i = 0; i < 3; i++) await page.click('#conv-step');
    // Output pixel (0, 2) as the page must compute it: the grey input, zero padding.
    const pixels = Buffer.from(image.data, 'base64');
    const c = image.shape[0];
    const grey = (y, x) => (y < 0 || y >= h || x < 0 || x >= w ? 0 : Array.from({ length: c }, (_, ch) => pixels[ch * h * w + y * w + x] / 255 / c).reduce((a, b) => a + b, 0));
    let sum = 0;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) sum += kernels[k].k[a * 3 + b] * grey(-1 + a, 2 * 2 - 1 + b);
    const current = await page.textContent('#conv-current');
    const shown = current.match(/^y\[0, 2\] = .* = (-?\d+\.\d+)\s+\(/);
    assert(shown && Math.abs(Number(shown[1]) - sum) < 1.5e-3, `"${current}", expected y[0, 2] = ${sum.toFixed(3)}`);
    await page.fill('#conv-speed', '8');
    await page.click('#conv-play');
    await page.waitForSelector(`#conv-output[data-computed="${outH * outW}"]`, { timeout: 10000 });
    const size = await page.$eval('#conv-output', (e) => [e.width, e.height]);
    assert(size[0] / outW === size[1] / outH, `the output canvas is ${size} for ${outW}x${outH} pixels`);
    // Back to stride 1 for the picture: the whole image convolved, the window mid-way.
    await page.fill('#conv-stride', '1');
    await page.fill('#conv-speed', '2');
    await page.click('#conv-play');
    await page.waitForTimeout(1500);
    await page.click('#conv-play');
    await shot(page, o.shots, 'conv', ['#conv-panel']);
    if (o.shots) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(o.shots, 'serve-page.png') });
    }
    noProblems(problems);
  });

  await check('an API error is shown on the page', async () => {
    if (!(info.samples > 0)) return;
    const before = await page.locator('#messages .message').count();
    await page.fill('#sample-index', String(info.samples));
    await page.click('#sample-show');
    await page.waitForFunction((n) => document.querySelectorAll('#messages .message').length > n, before, { timeout: 10000 });
    const text = await page.locator('#messages .message').last().textContent();
    assert(/sample/i.test(text), `the message says "${text}"`);
  });
  await page.close();
}

async function trainChecks(o, browser, tmp) {
  // 40000 images (36000 trained on, 1.4-2 s an epoch on the hosts here): with fewer the run,
  // and with it its server, can be over before a browser has opened the page.
  const args = ['train', '--model', 'lenet5', '--epochs', '2', '--limit', '40000', '--serve', '0', '--out', path.join(tmp, 'train.ckpt')];
  const child = spawn(o.cnn, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Listening from the start: the address is printed at once, often before the page below
  // is open (a listener added after it missed it, and the check failed on fast hosts).
  const address = printedAddress(child, 30000);
  address.catch(() => {}); // a failure is reported where it is awaited
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const before = failures;
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = watch(page);
  await check('cnn train --serve: the page gets the run, both epochs, the filters and the end', async () => {
    await page.goto(await address);
    await page.waitForSelector('#train-status[data-state="done"]', { timeout: 60000 });
    const rows = await page.locator('#train-epochs tbody tr').count();
    assert(rows === 2, `${rows} epochs in the table`);
    assert((await page.$eval('#train-loss', (c) => c.dataset.points)) === '2', 'the curves do not have 2 epochs');
    assert((await page.locator('#train-filters canvas').count()) > 0, 'no filters shown');
    await shot(page, o.shots, 'train', ['#train']);
    noProblems(problems);
  });
  await page.close();
  // After "done" the run still tests the model and writes its files: let it finish, unless a
  // check failed (or it hangs), then stop it as Ctrl-C would.
  const stop = () => child.exitCode === null && child.signalCode === null && child.kill('SIGINT');
  if (failures > before) stop();
  const timer = setTimeout(stop, 60000);
  const code = await exited;
  clearTimeout(timer);
  if (code !== 0) {
    failures++;
    console.log(`FAILED  cnn ${args.join(' ')} exited ${code}`);
  }
  if (failures > before) console.log(`cnn ${args.join(' ')}:\n${log.slice(-2000)}`);
}

async function main() {
  const o = options();
  if (o.shots) fs.mkdirSync(o.shots, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnn-serve-test-'));
  const start = performance.now();
  const browser = await chromium.launch({ executablePath: o.chromium, args: ['--no-sandbox'] });
  try {
    await modelChecks(o, browser, tmp);
    if (o.train) await trainChecks(o, browser, tmp);
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(failures ? `${failures} check(s) FAILED (${seconds} s)` : `all checks passed (${seconds} s)`);
  process.exit(failures ? 1 : 0);
}

main().catch((error) => {
  console.error(`serve.test.mjs: ${error.stack ?? error}`);
  process.exit(1);
});
