// ReportLens window: open or drop reports, see the token budget and the plan,
// run a summary or a translation with live progress and cancel, read the
// result beside its source with figures marked, reopen past jobs, export.
// Heavy work happens in the Rust commands (on worker threads); this file only
// wires events to rendering.
import { byId, el, clear, setText, show } from './dom.js';
import { initialLanguage, setLanguage, onLanguageChange, t, num, language } from './i18n.js';
import {
  openDocument, modelStatus, pickFile, onFileDrop, planTask, startJob, resumeJob, cancelJob,
  pauseJob, moveJob, queueFiles, queueView, openJob, exportJob, editTranslation, watchJobs,
  pickSavePath,
} from './tauri.js';
import { renderMeter } from './meter.js';
import { renderPreview, clearPreview } from './preview.js';
import {
  renderFindings, renderSourceBlocks, setSummaryStreaming, renderSummary, renderPairs,
  setTranslationLive,
} from './result.js';
import { renderPlan } from './plan.js';
import { initHistory, openHistory } from './history.js';
import { initSettings, openSettings, loadSettings, settingsState, saveUiLanguage } from './settings.js';

const state = {
  view: null, // the last DocumentView shown
  error: null, // { code, message } of the last failure
  model: null, // the last ModelStatus
  busyName: null,
  seq: 0, // discards results of superseded opens
  notice: null, // { key, vars } of an informational line
  queue: { items: [], seconds_left: 0, unknown: 0 }, // the engine's QueueView
  streams: new Map(), // job id -> Map(pass -> text being written), every job in flight
  latest: new Map(), // job id -> the newest progress its messages carried (snapshots may be older)
  plan: null, // the Plan for the chosen task
  planSeq: 0,
  job: null, // the job shown: see newJob()
};

// Files the window opens for a look before running; anything else dropped
// alone (a folder) is queued.
const DOCUMENT_EXTENSIONS = ['pdf', 'docx', 'txt', 'md'];

function newJob(id, kind, name) {
  return {
    id,
    kind, // 'summarize' | 'translate'
    name,
    status: 'queued', // queued | loading | running | paused | done | cancelled | failed
    running: true, // queued or running (not ended)
    progress: null, // the engine's JobProgress
    queued: null, // its queue state: waiting | paused | running, null when not queued
    pausing: false, // paused from the window: its stop is no cancellation
    stream: '', // text of the pass being written
    result: null,
    error: null,
    blocks: [],
    device: null,
  };
}

/** The job's status and running flag from the engine's progress and its queue state. */
function applyProgress(j, p) {
  if (!p) return;
  j.progress = p;
  if (p.device) j.device = p.device;
  if (p.error) j.error = p.error;
  const ended = ['done', 'cancelled', 'failed'].includes(p.stage);
  j.running = !ended;
  j.status = p.stage === 'cancelled' && (j.pausing || j.queued === 'paused') ? 'paused' : p.stage;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t('time.s', { n: num(s) });
  if (s < 3600) return t('time.min', { n: num(Math.round(s / 60)) });
  return t('time.h', { h: num(Math.floor(s / 3600)), m: num(Math.round((s % 3600) / 60)) });
}

function baseName(path) {
  return String(path).split(/[\\/]/).pop() || String(path);
}

function normalizeError(err) {
  if (err && typeof err === 'object' && 'message' in err) {
    return { code: err.code ?? 'ui', message: String(err.message) };
  }
  return { code: 'ui', message: String(err) };
}

function currentTask() {
  if (byId('task-translate').checked) return { task: 'translate', to: byId('translate-to').value };
  return { task: 'summarize', lang: byId('summary-lang').value, mode: byId('summary-mode').value };
}

// ---- rendering -----------------------------------------------------------

function renderModel() {
  const node = byId('model-status');
  const m = state.model;
  if (!m) {
    node.dataset.state = 'loading';
    setText(node, t('model.loading'));
  } else if (m.state === 'ready') {
    node.dataset.state = 'ready';
    setText(node, t('model.ready', { name: m.name, context: num(m.context_length), device: m.device }));
    node.title = m.path;
  } else if (m.state === 'missing') {
    node.dataset.state = 'missing';
    setText(node, t('model.missing'));
    node.title = m.message;
  } else {
    node.dataset.state = 'broken';
    setText(node, t('model.broken', { message: m.message }));
    node.title = m.path ?? '';
  }
}

function renderBusy() {
  const busy = state.busyName !== null;
  byId('main').setAttribute('aria-busy', String(busy));
  byId('open-button').disabled = busy;
  show(byId('busy'), busy);
  if (busy) setText(byId('busy-text'), t('busy', { name: state.busyName }));
}

function renderError() {
  const e = state.error;
  show(byId('error'), !!e);
  if (!e) return;
  byId('error').dataset.code = e.code;
  setText(byId('error-title'), t(e.title || 'error.title'));
  setText(byId('error-message'), e.message);
  setText(byId('error-hint'), t(`error.hint.${e.code}`));
}

function renderNotice() {
  const n = state.notice;
  show(byId('notice'), !!n);
  setText(byId('notice'), n ? t(n.key, n.vars) : '');
}

// The queue repaints with every progress message: rows are updated in place
// (never rebuilt), so a button under the pointer stays the same element and
// a click on it is never lost.
function queueRow(id) {
  const button = (action, label) => el('button', {
    type: 'button', class: 'ghost small', dataset: { action, job: id, testid: `queue-${action}` },
  }, label);
  const fill = el('div', { class: 'queue-fill' });
  return el('li', { dataset: { job: id } },
    el('div', { class: 'queue-row' },
      el('button', { type: 'button', class: 'link', dataset: { action: 'show', job: id, part: 'name' } }),
      el('span', { class: 'queue-state', dataset: { part: 'state' } })),
    el('div', { class: 'queue-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', dataset: { part: 'bar' } }, fill),
    el('div', { class: 'queue-row' },
      el('span', { class: 'queue-left', dataset: { part: 'left', testid: 'queue-left' } }),
      el('span', { class: 'queue-actions' },
        button('up', '↑'), button('down', '↓'), button('pause', '‖'), button('resume', '▶'),
        button('cancel', '✕'), button('remove', '✕'))));
}

function updateQueueRow(li, it, i, count) {
  const part = (name) => li.querySelector(`[data-part=${name}]`);
  const name = it.job.document_name;
  li.dataset.state = it.state;
  li.classList.toggle('shown', state.job?.id === it.job.id);
  setText(part('name'), name);
  part('name').title = name;
  setText(part('state'), `${t(`task.${it.job.task}`)} · ${t(`queue.state.${it.state}`)}`);
  const p = it.progress;
  const pct = p ? Math.round(p.fraction * 100)
    : Math.round(((it.job.done_chunks ?? 0) / (it.job.total_chunks || 1)) * 100);
  const bar = part('bar');
  bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-label', name);
  bar.firstChild.style.width = `${pct}%`; // through CSSOM: the page's CSP allows no style attributes
  setText(part('left'), it.seconds_left != null ? t('queue.left', { time: duration(it.seconds_left) }) : t('queue.left_unknown'));
  const running = it.state === 'running';
  const paused = it.state === 'paused';
  const visible = { up: true, down: true, pause: !paused, resume: paused, cancel: running, remove: !running };
  for (const b of li.querySelectorAll('.queue-actions button')) {
    const action = b.dataset.action;
    show(b, visible[action]);
    b.disabled = (action === 'up' && i === 0) || (action === 'down' && i === count - 1);
    b.title = t(`queue.${action}`);
    b.setAttribute('aria-label', `${t(`queue.${action}`)}: ${name}`);
  }
}

function renderQueue() {
  const q = state.queue;
  const list = byId('queue-list');
  const rows = new Map([...list.children].map((li) => [li.dataset.job, li]));
  const wanted = q.items.map((it, i) => {
    const id = String(it.job.id);
    const li = rows.get(id) ?? queueRow(id);
    rows.delete(id);
    updateQueueRow(li, it, i, q.items.length);
    return li;
  });
  for (const gone of rows.values()) gone.remove();
  // Re-append only when the order changed (moving a node would cancel a click on it).
  if (wanted.some((li, i) => list.children[i] !== li)) list.append(...wanted);
  show(byId('queue'), q.items.length > 0);
  if (q.items.length) {
    let key = 'queue.summary';
    if (q.unknown === q.items.length) key = 'queue.summary_unknown';
    else if (q.unknown) key = 'queue.summary_partial';
    setText(byId('queue-summary'), t(key, {
      count: num(q.items.length), time: duration(q.seconds_left), unknown: num(q.unknown),
    }));
  }
}

function renderDocument() {
  const v = state.view;
  byId('drop-zone').classList.toggle('compact', !!v || !!state.job);
  show(byId('doc'), !!v);
  if (!v) return;
  setText(byId('doc-name'), v.name);
  byId('doc-name').title = v.path;
  setText(byId('doc-pages'), v.pages != null ? num(v.pages) : t('facts.none'));
  setText(byId('doc-blocks'), num(v.block_count));
  setText(byId('doc-chars'), num(v.plan.characters));
  renderMeter(v.plan);
  renderPreview(v);
  const translate = byId('task-translate').checked;
  show(byId('summary-options'), !translate);
  show(byId('translate-options'), translate);
  renderPlan(state.plan, state.model);
  byId('run-button').disabled = state.model?.state !== 'ready';
}

function renderWorkspace() {
  const j = state.job;
  const noModel = state.model && state.model.state !== 'ready';
  const showWelcome = !j && !state.view && noModel;
  show(byId('welcome'), showWelcome);
  show(byId('preview'), !j && !!state.view);
  show(byId('preview-empty'), !j && !state.view && !showWelcome);
  show(byId('summary-view'), !!j && j.kind === 'summarize');
  show(byId('translation-view'), !!j && j.kind === 'translate');
  if (!j) {
    setText(byId('workspace-title'), t('preview.title'));
    show(byId('export-bar'), false);
    renderFindings(null);
    if (!state.view) {
      clearPreview();
      show(byId('preview-empty'), !showWelcome);
    }
    return;
  }
  setText(byId('workspace-title'), t(j.kind === 'translate' ? 'view.translation_of' : 'view.summary_of', { name: j.name }));
  setText(byId('preview-more'), '');
  const done = !!j.result;
  show(byId('export-bar'), done);
  for (const b of document.querySelectorAll('#export-bar .bilingual-only')) show(b, j.kind === 'translate');
  const keyFigures = j.result?.findings?.key_figures?.length > 0;
  for (const b of document.querySelectorAll('#export-bar .key-figures-only')) show(b, done && keyFigures);
  renderFindings(done ? j.result.findings : null);
}

function renderJobCard() {
  const j = state.job;
  show(byId('job-card'), !!j);
  if (!j) return;
  setText(byId('job-title'), t(j.kind === 'translate' ? 'job.title_translate' : 'job.title_summarize', { id: j.id, name: j.name }));
  const status = byId('job-status');
  status.dataset.status = j.status;
  const place = state.queue.items.findIndex((it) => it.job.id === j.id);
  let line = t(`job.status.${j.status}`, { device: j.device ?? '', place: num(place + 1) });
  if (j.status === 'failed' && j.error) line = `${line} ${j.error}`;
  setText(status, line);
  show(byId('cancel-button'), j.running);
  byId('cancel-button').disabled = !j.running;
  show(byId('resume-button'), !j.running && ['cancelled', 'failed', 'paused'].includes(j.status));
  renderProgress();
}

function renderProgress() {
  const j = state.job;
  const p = j?.progress;
  const running = j && j.running && p && p.stage === 'running' && p.passes > 0;
  show(byId('progress'), !!running);
  if (!running) return;
  const pct = Math.min(100, p.fraction * 100);
  byId('progress-fill').style.width = `${pct.toFixed(1)}%`;
  const bar = byId('progress-bar');
  bar.setAttribute('aria-valuenow', pct.toFixed(0));
  const phase = p.reading
    ? t('progress.reading', { done: num(p.reading.done), total: num(p.reading.total) })
    : t('progress.writing', { tokens: num(p.tokens) });
  const label = p.passes_in_flight > 1
    ? t('progress.passes_at_once', {
      from: num(p.pass + 1), to: num(Math.min(p.pass + p.passes_in_flight, p.passes)), passes: num(p.passes),
      tokens: num(p.tokens),
    })
    : t('progress.pass', {
      pass: num(Math.min(p.pass + 1, p.passes)), passes: num(p.passes), kind: t(`pass.${p.pass_kind ?? 'whole'}`), phase,
    });
  setText(byId('progress-label'), label);
  bar.setAttribute('aria-valuetext', label);
  const speed = [];
  if (p.tokens_per_second) speed.push(t('progress.tps', { tps: p.tokens_per_second.toFixed(1) }));
  if (p.eta_seconds != null) speed.push(t('progress.eta', { time: duration(p.eta_seconds) }));
  setText(byId('progress-speed'), speed.join(' · '));
}

function renderJobContent() {
  const j = state.job;
  if (!j) return;
  if (j.kind === 'summarize') {
    if (j.result) renderSummary(j.result);
    else setSummaryStreaming(j.stream || (j.running ? '' : t('job.no_output')), j.running);
  } else if (j.result) {
    setTranslationLive('');
    renderPairs(j.result, onEditPair);
  } else {
    clear(byId('pairs-body'));
    setTranslationLive(j.stream);
  }
}

function renderAll() {
  renderModel();
  renderBusy();
  renderError();
  renderNotice();
  renderQueue();
  renderDocument();
  renderJobCard();
  renderWorkspace();
  if (state.job) {
    renderSourceBlocks(state.job.blocks);
    renderJobContent();
  }
}

// ---- documents -----------------------------------------------------------

/**
 * Open one file. The drop handler, the Open button and the e2e test all come
 * through here. Resolves to 'ready' or 'error' once the window shows the result.
 */
async function openPath(path) {
  const seq = ++state.seq;
  state.busyName = baseName(path);
  state.error = null;
  renderBusy();
  renderError();
  try {
    const view = await openDocument(path);
    if (seq !== state.seq) return 'superseded';
    state.view = view;
    state.busyName = null;
    if (!state.job?.running) state.job = null; // a new document: back to its preview
    state.plan = null;
    renderAll();
    byId('doc-heading').focus?.();
    refreshPlan();
    return 'ready';
  } catch (err) {
    if (seq !== state.seq) return 'superseded';
    state.error = normalizeError(err);
    state.view = null; // don't leave another file's figures under this file's error
    state.busyName = null;
    if (!state.job?.running) state.job = null;
    renderAll();
    return 'error';
  }
}

async function refreshPlan() {
  const v = state.view;
  if (!v || state.model?.state !== 'ready') return;
  const seq = ++state.planSeq;
  state.plan = { loading: true };
  renderPlan(state.plan, state.model);
  try {
    const plan = await planTask(v.path, currentTask());
    if (seq !== state.planSeq) return;
    state.plan = plan;
  } catch (err) {
    if (seq !== state.planSeq) return;
    state.plan = { error: normalizeError(err).message };
  }
  renderPlan(state.plan, state.model);
}

async function onOpenClicked() {
  state.notice = null;
  renderNotice();
  try {
    const path = await pickFile(t('dialog.filter'));
    if (path) await openPath(path);
  } catch (err) {
    state.error = normalizeError(err);
    renderError();
  }
}

function isDocument(path) {
  const ext = String(path).split('.').pop().toLowerCase();
  return DOCUMENT_EXTENSIONS.includes(ext) && !/[\\/]$/.test(path);
}

function onDrop(paths) {
  if (!paths.length) return;
  // One file opens for a look (its plan, then Run); several files, or a
  // folder, join the queue with the task chosen.
  if (paths.length === 1 && isDocument(paths[0])) openPath(paths[0]);
  else queuePaths(paths);
}

/** Queue files and folders with the chosen task; resolves to the job ids. */
async function queuePaths(paths) {
  state.error = null;
  state.busyName = paths.length === 1 ? baseName(paths[0]) : t('queue.files', { count: num(paths.length) });
  renderBusy();
  renderError();
  try {
    const r = await queueFiles(paths, currentTask());
    state.notice = { key: 'queue.added', vars: { count: num(r.jobs.length) } };
    if (r.refused.length) {
      state.error = {
        code: 'engine', title: 'error.queue_title',
        message: r.refused.map((f) => `${baseName(f.path)}: ${f.message}`).join('\n'),
      };
    }
    await refreshQueue();
    if (!state.job && r.jobs.length) await showJob(r.jobs[0]);
    return r.jobs;
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.queue_title' };
    return [];
  } finally {
    state.busyName = null;
    renderAll();
  }
}

async function refreshQueue() {
  try {
    setQueue(await queueView());
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.queue_title' };
    renderError();
  }
}

/** Take the engine's queue; the shown job learns its place and state. */
function setQueue(view) {
  // A snapshot may predate messages already here: their progress wins.
  for (const it of view.items) {
    if (it.progress) it.progress = state.latest.get(it.job.id) ?? it.progress;
  }
  state.queue = view;
  const j = state.job;
  if (j) {
    const it = view.items.find((i) => i.job.id === j.id);
    j.queued = it?.state ?? null;
    if (j.queued === 'paused') Object.assign(j, { status: 'paused', running: false });
    else if (it?.progress) applyProgress(j, it.progress);
    else if (j.queued === 'waiting' && !j.result) Object.assign(j, { status: 'queued', running: true });
  }
  renderQueue();
  renderJobCard();
}

// Queue messages come per token; the list is re-read at most every 300 ms
// and only when its order or states may have changed.
let queueTimer = null;
function scheduleQueueRefresh() {
  if (queueTimer) return;
  queueTimer = setTimeout(() => { queueTimer = null; refreshQueue(); }, 300);
}

async function onQueueClick(e) {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const id = Number(b.dataset.job);
  const items = state.queue.items;
  const at = items.findIndex((it) => it.job.id === id);
  const action = b.dataset.action;
  if (action === 'show') {
    await showJob(id);
    return;
  }
  b.disabled = true;
  try {
    let view;
    if (action === 'up') view = await moveJob(id, Math.max(0, at - 1));
    else if (action === 'down') view = await moveJob(id, at + 1);
    else if (action === 'pause') {
      if (state.job?.id === id) state.job.pausing = true;
      view = await pauseJob(id);
    } else if (action === 'resume') {
      if (state.job?.id === id) state.job.pausing = false;
      view = await resumeJob(id);
    } else view = await cancelJob(id); // cancel (running) or remove (waiting)
    setQueue(view);
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.queue_title' };
    renderError();
    b.disabled = false;
  }
}

function setDragHover(on) {
  document.body.classList.toggle('dragging', on);
  byId('drop-zone').classList.toggle('active', on);
}

async function refreshModel() {
  try {
    state.model = await modelStatus();
  } catch (err) {
    state.model = { state: 'broken', message: normalizeError(err).message };
  }
  renderAll();
  refreshPlan();
}

// ---- jobs ----------------------------------------------------------------

/** Queue the chosen task on the open document (it runs at once when nothing
 * else waits); resolves to the job id. */
async function run() {
  const v = state.view;
  if (!v) return null;
  state.error = null;
  renderError();
  const task = currentTask();
  try {
    byId('run-button').disabled = true;
    const id = await startJob(v.path, task);
    await showJob(id);
    await refreshQueue();
    return id;
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.run_title' };
    renderAll();
    return null;
  }
}

/** Show job `id` (run, queued or from the history), from its stored state and progress. */
async function showJob(id, { retried = false } = {}) {
  const view = await openJob(id);
  const rec = view.job;
  const j = state.job?.id === id ? state.job : newJob(id, rec.task, rec.document_name);
  j.blocks = view.blocks;
  j.queued = view.queued;
  j.device = rec.device ?? j.device;
  // What its messages said last beats the snapshot (it may be older).
  const live = view.running ? (state.latest.get(id) ?? view.progress) : null;
  if (rec.status === 'done') {
    Object.assign(j, { status: 'done', result: view.result, running: false });
  } else if (live?.stage === 'done' && !retried) {
    return showJob(id, { retried: true }); // it finished while we asked: read its result
  } else if (live) {
    applyProgress(j, live);
  } else if (view.running || view.queued === 'waiting' || view.queued === 'running') {
    Object.assign(j, { status: 'queued', running: true });
  } else {
    Object.assign(j, { running: false, error: rec.error });
    // A crash left it "running"; a paused job waits in the queue.
    j.status = view.queued === 'paused' ? 'paused' : rec.status === 'running' ? 'cancelled' : rec.status;
  }
  // The pass being written now, else the passes finished before.
  j.stream = j.running ? streamOf(id, j.progress) : view.passes_done.join('\n\n');
  state.job = j;
  renderAll();
  return j;
}

async function onCancel() {
  const j = state.job;
  if (!j?.running) return;
  byId('cancel-button').disabled = true;
  j.pausing = false;
  setQueue(await cancelJob(j.id));
}

async function onResume() {
  const j = state.job;
  if (!j) return;
  // Queued from the click on; the engine's messages take it from there.
  const before = { status: j.status, error: j.error, stream: j.stream, running: j.running };
  Object.assign(j, { running: true, status: 'queued', error: null, stream: '', pausing: false });
  renderAll();
  try {
    setQueue(await resumeJob(j.id));
  } catch (err) {
    Object.assign(j, before);
    state.error = { ...normalizeError(err), title: 'error.run_title' };
    renderAll();
  }
}

// Tokens arrive faster than anyone reads; repainting on each would take CPU
// from the model. Streamed text and progress repaint at most ten times a second.
let streamTimer = null;
function scheduleStreamRender() {
  if (streamTimer) return;
  streamTimer = setTimeout(() => {
    streamTimer = null;
    renderQueue();
    const j = state.job;
    if (!j || j.result) return;
    renderProgress();
    if (j.kind === 'summarize') setSummaryStreaming(j.stream);
    else setTranslationLive(j.stream);
  }, 100);
}

/** The text of the first pass a job is writing (several may run at once on a server). */
function streamOf(id, progress) {
  return state.streams.get(id)?.get(progress?.pass ?? 0) ?? '';
}

// Events after which the queue's order, states or times may have changed.
const QUEUE_EVENTS = new Set(['queued', 'model-loaded', 'planned', 'pass-finished', 'finished', 'cancelled', 'failed']);

/** One message of any job: `{ event, progress }` (the engine's progress after it). */
function onEvent({ event: e, progress }) {
  const ended = e.event === 'finished' || e.event === 'cancelled' || e.event === 'failed';
  // A job that ended changes the history, whichever job it was.
  if (ended) document.dispatchEvent(new CustomEvent('jobs-changed'));
  state.latest.set(e.job, progress);
  const texts = state.streams.get(e.job) ?? new Map();
  state.streams.set(e.job, texts);
  if (e.event === 'pass-started') texts.set(e.pass, '');
  else if (e.event === 'token') texts.set(e.pass, (texts.get(e.pass) ?? '') + e.text);
  else if (e.event === 'pass-finished') texts.delete(e.pass);
  else if (ended) state.streams.delete(e.job);
  const item = state.queue.items.find((it) => it.job.id === e.job);
  if (item) {
    item.progress = progress;
    if (progress.eta_seconds != null) item.seconds_left = progress.eta_seconds;
  }
  if (QUEUE_EVENTS.has(e.event)) scheduleQueueRefresh();
  const j = state.job;
  if (!j || e.job !== j.id) {
    if (item) scheduleStreamRender();
    return;
  }
  applyProgress(j, progress);
  switch (e.event) {
    case 'pass-started':
    case 'pass-finished':
      j.stream = streamOf(j.id, progress);
      break;
    case 'token':
      j.stream = streamOf(j.id, progress);
      scheduleStreamRender();
      return; // the rest of the window does not change per token
    case 'finished':
      if (state.notice?.key === 'job.cancelled_notice') state.notice = null;
      j.result = e.result;
      break;
    case 'cancelled':
      state.notice = j.pausing
        ? { key: 'job.paused_notice', vars: { passes: num(e.passes_done) } }
        : { key: 'job.cancelled_notice', vars: { passes: num(e.passes_done), id: j.id } };
      break;
    case 'failed':
      j.error = e.error;
      break;
    default:
      break;
  }
  renderAll();
}

async function onEditPair(index, text) {
  const j = state.job;
  if (!j?.result) return;
  try {
    j.result = await editTranslation(j.id, index, text);
    state.notice = { key: 'pairs.saved', vars: { n: index + 1 } };
    renderNotice();
    renderFindings(j.result.findings);
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.edit_title' };
    renderError();
  }
}

/** Export the shown job; `path` skips the save dialog (tests). */
async function exportTo(format, path) {
  const j = state.job;
  if (!j?.result) return null;
  const ext = { 'key-figures-csv': 'csv', 'key-figures-xlsx': 'xlsx' }[format]
    ?? (format.endsWith('docx') ? 'docx' : 'md');
  let target = path;
  if (!target) {
    const stem = j.name.replace(/\.[^.]+$/, '');
    const suffix = j.kind === 'translate' ? t('export.suffix_translation') : t('export.suffix_summary');
    target = await pickSavePath(`${stem} — ${suffix}.${ext}`, t(`export.${format.replaceAll('-', '_')}`), ext);
    if (!target) return null;
  }
  try {
    const written = await exportJob(j.id, format, target);
    state.notice = { key: 'export.done', vars: { path: written } };
    renderNotice();
    return written;
  } catch (err) {
    state.error = { ...normalizeError(err), title: 'error.export_title' };
    renderError();
    return null;
  }
}

// ---- start ---------------------------------------------------------------

async function start() {
  const select = byId('lang-select');
  setLanguage(initialLanguage(), { remember: false });
  select.value = language();
  select.addEventListener('change', () => {
    setLanguage(select.value);
    saveUiLanguage(select.value);
  });
  onLanguageChange(() => renderAll());

  byId('open-button').addEventListener('click', onOpenClicked);
  byId('queue-list').addEventListener('click', onQueueClick);
  byId('run-button').addEventListener('click', run);
  byId('cancel-button').addEventListener('click', onCancel);
  byId('resume-button').addEventListener('click', onResume);
  for (const id of ['task-summarize', 'task-translate', 'summary-lang', 'summary-mode', 'translate-to']) {
    byId(id).addEventListener('change', () => { renderDocument(); refreshPlan(); });
  }
  for (const b of document.querySelectorAll('#export-bar button')) {
    b.addEventListener('click', () => exportTo(b.dataset.format));
  }
  initHistory({ onOpen: (id) => showJob(id) });
  initSettings({
    onSaved: () => { refreshModel(); },
    onDefaults: (s) => {
      byId('summary-lang').value = s.summary_lang;
      byId('summary-mode').value = s.summary_mode;
      byId('translate-to').value = s.translate_to;
    },
  });
  byId('history-button').addEventListener('click', openHistory);
  byId('settings-button').addEventListener('click', openSettings);
  byId('welcome-settings').addEventListener('click', openSettings);
  renderAll();

  // The test hooks share the handlers the buttons and the drop use.
  window.__reportlens = Object.freeze({
    openPath,
    run,
    cancel: onCancel,
    resume: onResume,
    showJob,
    queuePaths,
    exportTo,
    state: () => ({
      ready: !!state.view,
      busy: state.busyName !== null,
      error: state.error,
      plan: state.plan && !state.plan.loading && !state.plan.error ? state.plan : null,
      job: state.job && {
        id: state.job.id, status: state.job.status, running: state.job.running,
        pass: state.job.progress?.pass ?? 0, passes: state.job.progress?.passes ?? 0,
        tokens: state.job.progress?.tokens ?? 0, hasResult: !!state.job.result,
      },
      queue: state.queue.items.map((it) => ({ id: it.job.id, name: it.job.document_name, state: it.state })),
    }),
  });

  onFileDrop({ hover: setDragHover, drop: onDrop }).catch((err) => {
    state.error = normalizeError(err);
    renderError();
  });
  // Handed over before anything can run from this page: no event is missed.
  await watchJobs(onEvent).then(setQueue).catch((err) => {
    state.error = normalizeError(err);
    renderError();
  });
  await loadSettings().catch(() => null);
  const s = settingsState();
  if (s?.settings?.ui_lang && s.settings.ui_lang !== language()) {
    setLanguage(s.settings.ui_lang, { remember: false });
    select.value = language();
  }
  await refreshModel();
  // A queue left from the last session runs on: show the job it is on.
  const first = state.queue.items.find((it) => it.state === 'running') ?? state.queue.items[0];
  if (first && !state.job) await showJob(first.job.id).catch(() => null);
  document.body.dataset.ready = 'true';
}

start();
