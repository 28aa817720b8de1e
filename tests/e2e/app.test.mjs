// End-to-end test of the ReportLens window: the real app binary under Xvfb,
// driven through WebKitWebDriver with plain W3C WebDriver calls (no npm packages).
//
// Run from the repository root:
//   cargo build -p reportlens-app --bin reportlens-app && cargo build --bin reportlens
//   node --test tests/e2e/
// Environment overrides: REPORTLENS_APP_BIN, REPORTLENS_CLI_BIN, REPORTLENS_MODEL,
// REPORTLENS_E2E_PDF. Screenshots go to tests/e2e/artifacts/ (git-ignored).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const APP_BIN = path.resolve(process.env.REPORTLENS_APP_BIN || path.join(ROOT, 'target/debug/reportlens-app'));
const CLI_BIN = path.resolve(process.env.REPORTLENS_CLI_BIN || path.join(ROOT, 'target/debug/reportlens'));
const PDF = path.resolve(process.env.REPORTLENS_E2E_PDF || path.join(ROOT, '../shared/corpus/pdf/olmocr__earnings.pdf'));
const SCAN = path.join(ROOT, '../shared/corpus/pdf/unstructured__table-multi-row-column-cells.pdf');
// A short real earnings release with its statements (4 pages): a financial summary.
const RELEASE = path.join(ROOT, '../shared/filings/COSTCO_2023Q3_EARNINGS.pdf');
const DOCX = path.resolve(process.env.REPORTLENS_E2E_DOCX || path.join(ROOT, '../shared/corpus/docx/docling__word_sample.docx'));
// A short real PDF with figures (20,000 bottles, 10,000 blankets, 200 laptops): the jobs run on
// it so the real model finishes in seconds, not minutes, on CI's two cores.
const MEMO = path.resolve(process.env.REPORTLENS_E2E_MEMO || path.join(ROOT, '../shared/corpus/pdf/unstructured__fake-memo.pdf'));
const ARTIFACTS = path.join(HERE, 'artifacts');
const MODEL = process.env.REPORTLENS_MODEL
  || path.join(process.env.REPORTLENS_MODELS || path.join(os.homedir(), '.cache/reportlens/models'),
    'SmolLM2-135M-Instruct.Q4_1.gguf');

const started = []; // child processes this test started, killed in after()
let driverUrl = null;
let session = null;
let tmp = null;
let display = null;

// ---- small helpers -----------------------------------------------------------

function fail(message) {
  throw new Error(`e2e setup: ${message}`);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what, fn, { timeout = 30_000, interval = 200 } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      if (err instanceof PageGone) throw err; // waiting longer cannot help
      last = err;
    }
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':')) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Start Xvfb on a free display; resolves to ":N". */
function startXvfb() {
  return new Promise((resolve, reject) => {
    const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    started.push(xvfb);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb did not report a display: ${err}`)), 15_000);
    xvfb.stderr.on('data', (d) => { err += d; });
    xvfb.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(`:${out.trim()}`);
      }
    });
    xvfb.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited with ${code}: ${err}`));
    });
  });
}

class PageGone extends Error {}

/** One W3C WebDriver call; throws with the driver's message on error. */
async function wd(method, route, body, timeoutMs = 60_000) {
  const url = `${driverUrl}${route}`;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: body ? { 'content-type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err?.name !== 'TimeoutError') throw err;
    // `./dev test` looks for this wording (see there).
    throw new PageGone(`WebDriver ${method} ${route}: no answer in ${timeoutMs} ms; the page is not responding (did the web process crash?)`);
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const v = json.value || {};
    throw new Error(`WebDriver ${method} ${route}: ${res.status} ${v.error || ''} ${v.message || ''}`);
  }
  return json.value;
}

const s = (route) => `/session/${session}${route}`;

function exec(script, args = []) {
  return wd('POST', s('/execute/sync'), { script, args });
}

function execAsync(script, args = [], timeoutMs = 180_000) {
  return wd('POST', s('/execute/async'), { script, args }, timeoutMs);
}

async function find(css) {
  const v = await wd('POST', s('/element'), { using: 'css selector', value: css });
  return Object.values(v)[0];
}

async function text(css) {
  return wd('GET', s(`/element/${await find(css)}/text`));
}

async function attr(css, name) {
  return wd('GET', s(`/element/${await find(css)}/attribute/${name}`));
}

async function displayed(css) {
  return wd('GET', s(`/element/${await find(css)}/displayed`));
}

async function screenshot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Let the page paint: a freshly started window can otherwise return a stale frame.
  // Two animation frames, or 1 s when frames are not coming (never hang here).
  await execAsync(`const done = arguments[0];
    setTimeout(done, 1000);
    requestAnimationFrame(() => requestAnimationFrame(() => done()));`);
  await sleep(500);
  const png = await wd('GET', s('/screenshot'));
  const file = path.join(ARTIFACTS, name);
  writeFileSync(file, Buffer.from(png, 'base64'));
  return file;
}

/** Open a file through the same function the drop handler calls. */
function openPath(p) {
  return execAsync(
    `const done = arguments[arguments.length - 1];
     window.__reportlens.openPath(arguments[0]).then(done, (e) => done('threw: ' + e));`,
    [p],
  );
}

async function setLanguage(lang) {
  await exec(
    `const sel = document.getElementById('lang-select');
     sel.value = arguments[0];
     sel.dispatchEvent(new Event('change'));`,
    [lang],
  );
}

function cliPlan(file) {
  const out = execFileSync(CLI_BIN, ['plan', file, '--model', MODEL, '--json'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out);
}

const en = (n) => new Intl.NumberFormat('en-US').format(n);

/** What the real drag needs that a machine may lack. */
function dragTools() {
  return ['cc', 'pkg-config', 'xdotool'].filter((c) => !which(c));
}

/**
 * Drag `files` from a real GTK drag source (as a file manager offers them)
 * onto the window with xdotool and release; `shot` names a screenshot taken
 * while the window shows the hover. Resolves to the source's process.
 */
async function dragFiles(files, shot) {
  const xenv = { ...process.env, DISPLAY: display, GSETTINGS_BACKEND: 'memory' };
  const bin = path.join(tmp, 'dragsource');
  if (!existsSync(bin)) {
    execFileSync('sh', ['-c', `cc -o "$1" "$2" $(pkg-config --cflags --libs gtk+-3.0)`, 'sh', bin, path.join(HERE, 'dragsource.c')]);
  }
  const source = spawn(bin, files, { env: xenv, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  started.push(source);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('drag source window did not map')), 15_000);
    source.stdout.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); resolve(); } });
    source.once('exit', (code) => { clearTimeout(timer); reject(new Error(`drag source exited with ${code}`)); });
  });
  await sleep(300);
  const xdo = (...args) => execFileSync('xdotool', args.map(String), { env: xenv });
  // Press on the source (top-left), move onto the app window in steps, release.
  xdo('mousemove', 80, 50);
  xdo('mousedown', 1);
  for (let i = 1; i <= 20; i += 1) {
    xdo('mousemove', 80 + i * 31, 50 + i * 20);
    await sleep(40);
  }
  await until('the window to see the drag', async () =>
    exec('return document.body.classList.contains("dragging");'), { timeout: 5_000 });
  if (shot) console.log(`screenshot: ${await screenshot(shot)}`);
  xdo('mouseup', 1);
  // The source must stay up until the drop is taken (GTK fetches the data
  // after the release): the caller kills it then.
  return source;
}

// ---- the suite ---------------------------------------------------------------

/** Check prerequisites, start Xvfb + WebKitWebDriver + the app; `extraEnv` reaches the app. */
async function launch(extraEnv = {}) {
  if (!existsSync(APP_BIN)) {
    fail(`app binary not found at ${APP_BIN}; build it with \`cargo build -p reportlens-app\` or set REPORTLENS_APP_BIN`);
  }
  if (!existsSync(CLI_BIN)) {
    fail(`CLI binary not found at ${CLI_BIN}; build it with \`cargo build --bin reportlens\` or set REPORTLENS_CLI_BIN`);
  }
  if (!existsSync(DOCX)) fail(`test DOCX not found at ${DOCX} (expects ../shared/corpus beside the repo)`);
  if (!existsSync(PDF)) fail(`test PDF not found at ${PDF} (expects ../shared/corpus beside the repo)`);
  if (!existsSync(MEMO)) fail(`test PDF not found at ${MEMO} (expects ../shared/corpus beside the repo)`);
  if (!existsSync(MODEL)) fail(`test model not found at ${MODEL}; run models/fetch-test-models`);
  for (const tool of ['Xvfb', 'WebKitWebDriver']) {
    if (!which(tool)) fail(`${tool} is not installed (apt-get install xvfb webkit2gtk-driver)`);
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'reportlens-e2e-'));

  display = await startXvfb();
  const port = await freePort();
  driverUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    DISPLAY: display,
    TAURI_WEBVIEW_AUTOMATION: 'true',
    GSETTINGS_BACKEND: 'memory',
    // Under Xvfb WebKit composites with Mesa's software GL (llvmpipe in
    // swrast_dri.so). Its threaded compositor crashed the web process once in
    // about ten runs (a GPF in swrast_dri.so) while the model ran. llvmpipe
    // without rasterizer threads is the calmer path, and leaves CI's two cores
    // to the model. (Turning compositing or the DMABUF renderer off instead
    // stalls animation frames, and with them the screenshots.)
    LP_NUM_THREADS: '0',
    REPORTLENS_MODEL: MODEL,
    // The model cache stays the real one (the catalogue shows the test model as present).
    REPORTLENS_MODELS: path.dirname(MODEL),
    LANG: 'C.UTF-8',
    // Keep the app's webview data (localStorage) out of the user's profile.
    XDG_DATA_HOME: path.join(tmp, 'data'),
    XDG_CONFIG_HOME: path.join(tmp, 'config'),
    XDG_CACHE_HOME: path.join(tmp, 'cache'),
    ...extraEnv,
  };
  const driver = spawn('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  started.push(driver);
  driver.once('exit', (code) => { if (code) console.error(`WebKitWebDriver exited with ${code}`); });
  await until('WebKitWebDriver /status', async () => (await wd('GET', '/status', null, 2000).catch(() => null))?.ready, {
    timeout: 20_000,
  });

  const created = await wd('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        'webkitgtk:browserOptions': { binary: APP_BIN, args: [] },
        timeouts: { script: 180_000 },
      },
    },
  }, 60_000);
  session = created.sessionId;

  await until('the ReportLens UI to start', async () =>
    exec('return document.body.dataset.ready === "true" && !!window.__reportlens;'));
  await setLanguage('en');
}

/** End the session and kill every process this file started. */
async function shutdown() {
  if (session) {
    await wd('DELETE', `/session/${session}`, null, 10_000).catch(() => {});
    session = null;
  }
  for (const child of started.splice(0).reverse()) {
    try {
      process.kill(-child.pid, 'SIGTERM'); // its own process group (detached)
    } catch {
      child.kill('SIGTERM');
    }
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = null;
}

describe('ReportLens window', { timeout: 600_000 }, () => {
  before(() => launch());
  after(shutdown);

  test('the header shows the configured model', async () => {
    await until('model status', async () => (await attr('#model-status', 'data-state')) !== 'loading');
    assert.equal(await attr('#model-status', 'data-state'), 'ready',
      await exec('return document.getElementById("model-status").textContent;'));
  });

  test('a real PDF shows the same token count as `reportlens plan`', async () => {
    const plan = cliPlan(PDF);
    const outcome = await openPath(PDF);
    assert.equal(outcome, 'ready', `opening ${PDF} ended in ${outcome}: ${await text('#error').catch(() => '')}`);

    const b = plan.budget;
    assert.equal(Number(await attr('#token-meter-text', 'data-document-tokens')), b.document_tokens);
    assert.equal(Number(await attr('#token-meter-text', 'data-context-length')), b.context_length);
    assert.equal(await attr('#token-meter-text', 'data-fits'), String(b.fits));
    const verdict = b.fits ? 'fits' : 'does not fit';
    assert.equal(await text('#token-meter-text'), `${en(b.document_tokens)} / ${en(b.context_length)} tokens — ${verdict}`);
    assert.equal(await attr('#token-meter', 'aria-valuemax'), String(b.context_length));
    // textContent: WebKit's WebDriver reports no rendered text for this ellipsised line.
    const header = await exec('return document.getElementById("model-status").textContent;');
    assert.ok(header.includes(en(b.context_length)), `header shows the context: ${JSON.stringify(header)}`);

    assert.equal(await text('#doc-name'), path.basename(PDF));
    assert.equal(await text('#doc-pages'), plan.pages == null ? '—' : en(plan.pages));
    assert.equal(await text('#doc-blocks'), en(plan.blocks));
    const shown = await exec('return document.querySelectorAll("#preview li").length;');
    assert.equal(shown, Math.min(plan.blocks, 200));
    assert.match(await text('#preview li:first-child .page'), /^p\. \d+$/);
    assert.equal(await displayed('#error'), false);
    console.log(`screenshot: ${await screenshot('plan-en.png')}`);
  });

  test('the UI switches to Chinese and back', async () => {
    await setLanguage('zh');
    assert.equal(await text('.drop-title'), '将报告拖放到这里');
    assert.match(await text('#token-meter-text'), /个词元 — (可以容纳|超出上下文)$/);
    assert.equal(await exec('return document.documentElement.lang;'), 'zh-CN');
    console.log(`screenshot: ${await screenshot('plan-zh.png')}`);
    await setLanguage('en');
    assert.equal(await text('.drop-title'), 'Drop a report here');
  });

  test('a file dragged from another app onto the window opens it', async (t) => {
    const missing = dragTools();
    if (missing.length) {
      t.skip(`needs ${missing.join(', ')} to build and drive the GTK drag source`);
      return;
    }
    const source = await dragFiles([DOCX], 'drag-hover.png');
    const plan = cliPlan(DOCX);
    await until('the dropped file to open', async () =>
      (await text('#doc-name')) === path.basename(DOCX) && !(await displayed('#busy')), { timeout: 120_000 });
    source.kill('SIGTERM');
    assert.equal(await displayed('#error'), false, await text('#error').catch(() => ''));
    assert.equal(Number(await attr('#token-meter-text', 'data-document-tokens')), plan.budget.document_tokens);
    assert.equal(await text('#doc-blocks'), en(plan.blocks));
  });

  test('scanned pages inside a text PDF are named beside the token meter', async () => {
    // A real earnings page, a real scanned page, the earnings page again (pdfunite).
    const mixed = path.join(tmp, 'mixed-scan.pdf');
    execFileSync('pdfunite', [PDF, SCAN, PDF, mixed]);
    const outcome = await openPath(mixed);
    assert.equal(outcome, 'ready', `opening ${mixed} ended in ${outcome}`);
    assert.equal(await displayed('#token-meter-no-text'), true);
    assert.equal(await text('#token-meter-no-text'),
      'Page 2 has no text layer (scanned) and was not read');
    assert.equal(await text('#doc-pages'), '3');
  });

  test('a mislabelled file shows a readable error naming it', async () => {
    const bogus = path.join(tmp, 'x.pdf');
    writeFileSync(bogus, 'This is plain text, not a PDF.\n');
    const outcome = await openPath(bogus);
    assert.equal(outcome, 'error');
    assert.equal(await displayed('#error'), true);
    assert.equal(await attr('#error', 'role'), 'alert');
    assert.equal(await text('#error-title'), 'Could not open the file');
    const message = await text('#error-message');
    assert.match(message, /x\.pdf/);
    assert.doesNotMatch(message, /panick|RUST_BACKTRACE/i);
    assert.equal(await displayed('#doc'), false, 'the previous document is not left under the error');
    console.log(`screenshot: ${await screenshot('error-en.png')}`);
  });

  test('document text and file names are shown as text, never run', async () => {
    const name = '<img src=x onerror=window.__pwned=1>.txt';
    const hostile = path.join(tmp, name);
    writeFileSync(hostile, [
      '<script>window.__pwned = 2</script>',
      '',
      '<img src="x" onerror="window.__pwned = 3">',
      '',
      '<a href="javascript:window.__pwned=4">click</a>',
      '',
    ].join('\n'));
    assert.equal(await openPath(hostile), 'ready');
    await sleep(300); // give any injected handler a chance to fire
    assert.equal(await exec('return window.__pwned === undefined;'), true);
    assert.equal(await exec('return document.querySelectorAll("#preview script, #preview img, #preview a, #doc-name img").length;'), 0);
    assert.equal(await text('#doc-name'), name);
    assert.match(await text('#preview'), /<script>window\.__pwned = 2<\/script>/);
  });
});

describe('ReportLens jobs in the window', { timeout: 600_000 }, () => {
  // The memo's summary holds after its 5th token until cancelled (a core test hook),
  // so the cancel below never races the model, however fast the machine.
  before(() => launch({ REPORTLENS_TEST_HOLD: `${path.basename(MEMO)}:5` }));
  after(shutdown);

  const jobState = () => exec('return window.__reportlens.state().job;');
  const click = async (css) => wd('POST', s(`/element/${await find(css)}/click`), {});

  async function chooseTask(id) {
    await click(`#${id}`);
    await until('the plan for the task', async () =>
      exec('const p = window.__reportlens.state().plan; return p ? p.strategy : null;'), { timeout: 120_000 });
  }

  test('a translation runs with progress and shows source and target aligned, figures marked', async () => {
    assert.equal(await openPath(MEMO), 'ready');
    await chooseTask('task-translate');
    assert.equal(await attr('#plan-strategy', 'data-strategy'), 'batched');
    await click('#run-button');
    await until('the job to start', async () => (await jobState())?.running, { timeout: 30_000 });
    const done = await until('the translation to finish', async () => {
      const j = await jobState();
      return j && !j.running && j.status;
    }, { timeout: 240_000, interval: 200 });
    assert.equal(done, 'done', await text('#job-status'));

    const extracted = JSON.parse(execFileSync(CLI_BIN, ['extract', MEMO, '--json'], { encoding: 'utf8' }));
    const blocks = extracted.blocks.filter((b) => b.text.trim()).map((b) => b.text);
    const rows = await exec(`return [...document.querySelectorAll('#pairs-body tr')].map((tr) =>
      [tr.children[0].querySelector('.cell-text').dataset.text, tr.children[1].textContent]);`);
    assert.equal(rows.length, blocks.length, 'one row per source block');
    rows.forEach(([src, tgt], i) => {
      assert.equal(src, blocks[i], `row ${i} holds source block ${i}`);
      assert.ok(tgt.trim(), `row ${i} has a translation`);
    });
    // Every figure of the translation is checked and marked in place.
    const marks = await exec(`return [...document.querySelectorAll('#pairs mark.fig')].map((m) => [m.textContent, m.dataset.status]);`);
    assert.ok(marks.length > 0, 'figures are marked');
    for (const [, st] of marks) assert.ok(['verified', 'approximate', 'mismatch', 'unsupported'].includes(st), st);
    const total = Number((await exec('return document.querySelector("#findings span").textContent;')).match(/\d+/)[0]);
    assert.equal(total, marks.length, 'the findings line counts the marks');
    // Hovering a row highlights both of its cells.
    await exec(`document.querySelector('#pairs-body tr').dispatchEvent(new MouseEvent('mouseenter'));`);
    assert.equal(await exec(`return document.querySelector('#pairs-body tr').classList.contains('hot');`), true);
    console.log(`screenshot: ${await screenshot('translation-side-by-side.png')}`);

    // An edit of a translated block is saved and reloads with the job.
    await exec(`const cell = document.querySelector('#pairs-body tr:first-child td:last-child .cell-text');
      cell.focus(); cell.textContent = '2023年5月5日 致相关人士（已编辑）'; cell.blur();`);
    await until('the edit to be saved', async () => (await text('#notice')).includes('saved'), { timeout: 30_000 });

    // Bilingual DOCX export (the save dialog is bypassed; the same code writes the file).
    const out = path.join(tmp, 'bilingual');
    const written = await execAsync(`const done = arguments[arguments.length - 1];
      window.__reportlens.exportTo('bilingual-docx', arguments[0]).then(done, (e) => done('threw: ' + e));`, [out]);
    assert.equal(written, `${out}.docx`);
    const back = JSON.parse(execFileSync(CLI_BIN, ['extract', written, '--json'], { encoding: 'utf8' }));
    const all = back.blocks.map((b) => b.text).join('\n');
    assert.ok(all.includes('20,000 bottles of water'), 'the export holds the source');
    assert.ok(all.includes('2023年5月5日 致相关人士（已编辑）'), 'the export holds the (edited) translation');
  });

  test('a financial summary shows the key figures read from the statements, each linked to its page', async () => {
    assert.equal(await openPath(RELEASE), 'ready');
    await exec(`const s = document.getElementById('summary-mode'); s.value = 'financial';
      s.dispatchEvent(new Event('change'));`);
    await chooseTask('task-summarize');
    await click('#run-button');
    const done = await until('the financial summary to finish', async () => {
      const j = await jobState();
      return j && !j.running && j.status;
    }, { timeout: 300_000, interval: 200 });
    assert.equal(done, 'done', await text('#job-status'));
    assert.equal(await displayed('#key-figures'), true);
    const rows = await exec(`return Object.fromEntries([...document.querySelectorAll('#key-figures-rows tr')]
      .map((tr) => [tr.dataset.metric, [...tr.children].map((td) => td.textContent)]));`);
    // The statement's own figures (read off the release by hand: tests/fixtures/filings).
    assert.equal(rows.revenue[3], '53,648');
    assert.equal(rows.revenue[4], '52,596');
    assert.equal(rows.revenue[7], 'p. 3');
    assert.equal(rows.net_income[3], '$ 1,302');
    // A row's page link scrolls the source to the statement.
    await click('#key-figures-rows tr[data-metric=revenue] button');
    const block = await exec(`return document.querySelector('#key-figures-rows tr[data-metric=revenue] button').dataset.block;`);
    assert.equal(await exec(`return document.getElementById('src-${block}').classList.contains('flash');`), true);
    console.log(`screenshot: ${await screenshot('summary-key-figures.png')}`);
    // Derived figures (if the model computed any) carry their formula on hover.
    for (const title of await exec(`return [...document.querySelectorAll('#summary-text mark.fig-derived')].map((m) => m.title);`)) {
      assert.match(title, /=/);
    }
    // The table alone exports as CSV and XLSX.
    assert.equal(await displayed('#export-bar .key-figures-only'), true);
    const out = path.join(tmp, 'key-figures');
    const written = await execAsync(`const done = arguments[arguments.length - 1];
      window.__reportlens.exportTo('key-figures-csv', arguments[0]).then(done, (e) => done('threw: ' + e));`, [out]);
    assert.equal(written, `${out}.csv`);
    const csv = readFileSync(written, 'utf8');
    assert.match(csv, /^metric,label,period,value/);
    assert.match(csv, /revenue,Total revenue,12 Weeks Ended May 7, 2023|revenue,Total revenue,"12 Weeks Ended May 7, 2023"/);
    const xlsx = await execAsync(`const done = arguments[arguments.length - 1];
      window.__reportlens.exportTo('key-figures-xlsx', arguments[0]).then(done, (e) => done('threw: ' + e));`, [out]);
    assert.equal(xlsx, `${out}.xlsx`);
    assert.equal(readFileSync(xlsx).subarray(0, 2).toString(), 'PK');
    await exec(`const s = document.getElementById('summary-mode'); s.value = 'general';
      s.dispatchEvent(new Event('change'));`);
  });

  test('a summary streams, cancels within a second, and resumes from the history', async () => {
    assert.equal(await openPath(MEMO), 'ready');
    await chooseTask('task-summarize');
    await click('#run-button');
    await until('text to stream in', async () => ((await jobState())?.tokens ?? 0) >= 5, { timeout: 300_000, interval: 100 });
    assert.ok((await exec('return document.getElementById("summary-text").textContent.length;')) > 0);
    console.log(`screenshot: ${await screenshot('summary-streaming.png')}`);
    const t0 = Date.now();
    await click('#cancel-button');
    await until('the job to stop', async () => !(await jobState()).running, { timeout: 5_000, interval: 50 });
    assert.ok(Date.now() - t0 < 1_500, `cancel took ${Date.now() - t0} ms`);
    assert.equal((await jobState()).status, 'cancelled');
    assert.equal(await displayed('#resume-button'), true);

    await click('#history-button');
    await until('the history to list the job', async () =>
      exec('return document.querySelectorAll("#history-list tr[data-status=cancelled]").length;'));
    assert.equal(await exec('return document.querySelector("#history-list tr[data-status=cancelled] td.device").textContent;'), 'cpu',
      'the history says which device ran the job');
    console.log(`screenshot: ${await screenshot('history.png')}`);
    await click('#history-list tr[data-status=cancelled] button[data-action=open]');
    await until('the cancelled job to show', async () => displayed('#resume-button'));
    await click('#resume-button');
    assert.equal((await jobState()).running, true, 'running from the click on');
    const done = await until('the resumed summary to finish', async () => {
      const j = await jobState();
      return j && !j.running && j.status;
    }, { timeout: 240_000, interval: 200 });
    assert.equal(done, 'done', await text('#job-status'));
    assert.ok((await text('#summary-text')).trim().length > 0);
    assert.equal(await displayed('#export-bar'), true);
    assert.equal(await displayed('#export-bar .bilingual-only'), false, 'no bilingual export for a summary');
    console.log(`screenshot: ${await screenshot('summary-done.png')}`);

    // Reopened from the history: shown at once, nothing recomputed.
    const id = (await jobState()).id;
    await click('#history-button');
    await until('the job listed as done in the history', async () =>
      exec(`return !!document.querySelector('#history-list tr[data-job="${id}"][data-status=done]');`));
    await click(`#history-list tr[data-job="${id}"] button[data-action=open]`);
    await until('the stored result', async () => (await jobState())?.hasResult);
    assert.equal((await jobState()).running, false);
  });

  test('settings show the catalogue and persist the defaults', async () => {
    await click('#settings-button');
    await until('the settings dialog', async () => displayed('#settings-dialog'));
    const items = await exec('return [...document.querySelectorAll("#settings-catalog li")].map((li) => li.dataset.id);');
    assert.deepEqual(items.sort(), ['index-1.9b-32k', 'smollm2-135m-instruct-q4_1']);
    assert.equal(await exec('return document.querySelector("#settings-catalog li[data-id=smollm2-135m-instruct-q4_1]").classList.contains("present");'), true);
    await exec(`document.getElementById('settings-translate-to').value = 'en';`);
    console.log(`screenshot: ${await screenshot('settings.png')}`);
    await click('#settings-save');
    await until('the dialog to close', async () => !(await displayed('#settings-dialog')));
    assert.equal(await exec('return document.getElementById("translate-to").value;'), 'en');
    await setLanguage('zh');
    assert.equal(await text('#run-button'), '运行');
    assert.equal(await text('#history-button'), '历史记录');
    await setLanguage('en');
  });
});

describe('ReportLens queue in the window', { timeout: 600_000 }, () => {
  // Three short documents dropped at once. The memo holds after its 3rd token
  // (a core test hook), so the queue is arranged while it runs however fast
  // the machine; the data folder outlives the app, which is killed mid-queue.
  const COMMENTS = path.join(ROOT, '../shared/corpus/docx/docling__docx_comments.docx');
  const files = [MEMO, DOCX, COMMENTS];
  const names = files.map((f) => path.basename(f));
  const data = mkdtempSync(path.join(os.tmpdir(), 'reportlens-e2e-queue-'));
  after(async () => {
    await shutdown();
    rmSync(data, { recursive: true, force: true });
  });

  // A real click lands where the element is; the side panel grows and shrinks
  // as jobs start (status lines, progress), so click once it has held still.
  const click = async (css) => {
    const rect = () => exec('const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.x, r.y].join();', [css]);
    let before = await rect();
    await until(`${css} to hold still`, async () => {
      await sleep(300);
      const now = await rect();
      const still = now === before;
      before = now;
      return still;
    }, { timeout: 10_000, interval: 0 });
    return wd('POST', s(`/element/${await find(css)}/click`), {});
  };
  const queue = () => exec('return window.__reportlens.state().queue;');
  const item = (name) => `#queue-list li[data-job="${name}"]`;

  test('three dropped files queue, reorder, cancel one, survive a crash, and the rest finish', async (t) => {
    const missing = dragTools();
    if (missing.length) {
      t.skip(`needs ${missing.join(', ')} to build and drive the GTK drag source`);
      return;
    }
    if (!existsSync(COMMENTS)) fail(`test DOCX not found at ${COMMENTS}`);
    await launch({ REPORTLENS_DATA: data, REPORTLENS_TEST_HOLD: `${names[0]}:3` });
    const source = await dragFiles(files);
    const q = await until('three jobs in the queue', async () => {
      const v = await queue();
      return v.length === 3 && v;
    }, { timeout: 120_000 });
    source.kill('SIGTERM');
    assert.deepEqual(q.map((i) => i.name), names, 'queued in the order dropped');
    const ids = Object.fromEntries(q.map((i) => [i.name, i.id]));
    await until('the memo to run', async () => (await queue())[0].state === 'running', { timeout: 120_000 });
    assert.ok((await text('#queue-summary')).length > 0, 'the queue says its time left');
    console.log(`screenshot: ${await screenshot('queue.png')}`);

    // Reorder: the last moves up, before the second.
    await click(`${item(ids[names[2]])} button[data-action=up]`);
    await until('the new order', async () =>
      (await queue()).map((i) => i.name).join() === [names[0], names[2], names[1]].join());
    // Cancel one: the waiting DOCX leaves the queue (kept in the history).
    await click(`${item(ids[names[1]])} button[data-action=remove]`);
    await until('the DOCX to leave the queue', async () => (await queue()).length === 2);

    // A crash mid-queue: the app is killed while the memo runs and one waits.
    assert.equal((await queue())[0].state, 'running');
    execFileSync('pkill', ['-KILL', '-f', `^${APP_BIN}`]);
    await shutdown();

    // Restarted without the hold: the queue is there, in its order, and runs out.
    await launch({ REPORTLENS_DATA: data });
    const after = await queue();
    assert.deepEqual(after.map((i) => i.name), [names[0], names[2]], 'the queue survived the crash');
    let left = null;
    await until('the queue to run out', async () => {
      left = await queue();
      return left.length === 0;
    }, { timeout: 300_000, interval: 500 }).catch((err) => {
      throw new Error(`${err.message}; still queued: ${JSON.stringify(left)}`);
    });
    await click('#history-button');
    await until('the history to list the three jobs', async () =>
      exec('return document.querySelectorAll("#history-list tr[data-job]").length === 3;'));
    const statuses = await exec(`return Object.fromEntries([...document.querySelectorAll('#history-list tr[data-job]')]
      .map((tr) => [tr.dataset.job, tr.dataset.status]));`);
    assert.equal(statuses[ids[names[0]]], 'done', 'the memo resumed and finished');
    assert.equal(statuses[ids[names[2]]], 'done', 'the moved file finished');
    assert.equal(statuses[ids[names[1]]], 'cancelled', 'the cancelled file stayed cancelled');
    console.log(`screenshot: ${await screenshot('queue-after-restart.png')}`);
  });
});

describe('ReportLens window, first start without a model', { timeout: 120_000 }, () => {
  before(() => launch({ REPORTLENS_MODEL: '', REPORTLENS_MODELS: path.join(os.tmpdir(), 'reportlens-e2e-no-models') }));
  after(shutdown);

  test('the window explains which model to get and where', async () => {
    await until('model status', async () => (await attr('#model-status', 'data-state')) !== 'loading');
    assert.equal(await attr('#model-status', 'data-state'), 'missing');
    assert.equal(await displayed('#welcome'), true);
    const entries = await exec('return [...document.querySelectorAll("#welcome-catalog li")].map((li) => [li.dataset.id, li.classList.contains("missing")]);');
    assert.deepEqual(entries.sort(), [['index-1.9b-32k', true], ['smollm2-135m-instruct-q4_1', true]]);
    assert.match(await text('#welcome'), /fetch-test-models/);
    console.log(`screenshot: ${await screenshot('first-start.png')}`);
  });
});

describe('ReportLens window, a model folder', { timeout: 300_000 }, () => {
  // A private copy of the toy Index folder and a private model cache, so the
  // conversion below writes only there.
  const base = mkdtempSync(path.join(os.tmpdir(), 'reportlens-e2e-forms-'));
  const folder = path.join(base, 'Index-tiny');
  const cache = path.join(base, 'models');
  before(() => {
    cpSync(path.join(ROOT, 'tests/fixtures/index-tiny'), folder, { recursive: true });
    mkdirSync(cache, { recursive: true });
    return launch({ REPORTLENS_MODEL: folder, REPORTLENS_MODELS: cache });
  });
  after(async () => {
    await shutdown();
    rmSync(base, { recursive: true, force: true });
  });
  const click = async (css) => wd('POST', s(`/element/${await find(css)}/click`), {});

  test('Settings offer its forms with their memory, and convert it once on choosing', async () => {
    await click('#settings-button');
    await until('the forms of the folder', async () => displayed('#settings-forms'));
    const rows = await exec(`return [...document.querySelectorAll('#settings-forms-list li')]
      .map((li) => [li.dataset.form, li.textContent]);`);
    assert.deepEqual(rows.map(([f]) => f), ['dense', 'q8_0', 'q4k']);
    for (const [, text] of rows) assert.match(text, /needs \d/);
    assert.match(rows[0][1], /in use/, 'the folder runs as it is until another form is chosen');
    await click('#settings-forms-list button[data-form=q8_0]');
    await until('the converted form in use', async () =>
      exec(`return document.querySelector('#settings-forms-list li[data-form=q8_0]')?.textContent.includes('in use');`),
      { timeout: 120_000 });
    const converted = readdirSync(path.join(cache, 'converted'));
    assert.equal(converted.length, 1);
    assert.match(converted[0], /^Index-tiny-[0-9a-f]{8}-q8_0\.gguf$/);
    assert.equal(await displayed('#settings-error'), false);
    console.log(`screenshot: ${await screenshot('settings-forms.png')}`);
    // Saving the rest of the dialog keeps the choice.
    await click('#settings-save');
    await until('the dialog to close', async () => !(await displayed('#settings-dialog')));
    await click('#settings-button');
    await until('the forms again', async () =>
      exec(`return document.querySelector('#settings-forms-list li[data-form=q8_0]')?.textContent.includes('in use');`));
  });
});

describe('ReportLens window, dark system theme', { timeout: 300_000 }, () => {
  before(() => launch({ GTK_THEME: 'Adwaita:dark' }));
  after(shutdown);

  test('the window follows the dark theme and keeps the meter readable', async () => {
    assert.equal(await exec('return matchMedia("(prefers-color-scheme: dark)").matches;'), true,
      'GTK_THEME=Adwaita:dark should make WebKit report a dark colour scheme');
    assert.equal(await openPath(PDF), 'ready');
    const [bg, fg] = await exec(`return [getComputedStyle(document.body).backgroundColor,
      getComputedStyle(document.getElementById('token-meter-text')).color];`);
    assert.ok(luminance(bg) < 0.05, `dark background, got ${bg}`);
    assert.ok(contrast(fg, bg) >= 4.5, `meter text contrast ${contrast(fg, bg).toFixed(2)} (${fg} on ${bg})`);
    console.log(`screenshot: ${await screenshot('plan-dark.png')}`);
  });
});

// WCAG relative luminance of a CSS rgb()/rgba() colour, and the contrast ratio of two.
function luminance(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
