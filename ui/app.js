// ReportLens window: open or drop reports, see the token budget and the plan,
// run a summary or a translation with live progress and cancel, read the
// result beside its source with figures marked, reopen past jobs, export.
// Heavy work happens in the Rust commands (on worker threads); this file only
// wires events to rendering.
import { byId, el, clear, setText, show } from './dom.js';
import { initialLanguage, setLanguage, onLanguageChange, t, num, language } from './i18n.js';
import {
  openDocument, modelStatus, pickFile, onFileDrop, planTask, startJob, resumeJob, cancelJob,
  openJob, exportJob, editTranslation, onJobEvent, pickSavePath,
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
  queue: [], // dropped files waiting to be opened
  plan: null, // the Plan for the chosen task
  planSeq: 0,
  job: null, // the job shown: see newJob()
  early: null, // events that arrive while a new job is being shown (replayed)
};

function newJob(id, kind, name) {
  return {
    id,
    kind, // 'summarize' | 'translate'
    name,
    status: 'starting', // starting | loading | running | done | cancelled | failed
    running: true,
    passes: 0,
    pass: 0,
    passKind: null,
    prefill: null, // { done, total }
    maxOut: 0,
    tokensInPass: 0,
    passStarted: 0,
    tps: null,
    eta: null,
    stream: '', // text of the pass being written
    result: null,
    error: null,
    blocks: [],
    device: null,
  };
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

function renderQueue() {
  const list = byId('queue-list');
  clear(list);
  list.append(...state.queue.map((p, i) => el('li', {},
    el('button', { type: 'button', class: 'link', title: p, dataset: { index: String(i) } }, baseName(p)))));
  show(byId('queue'), state.queue.length > 0);
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
  byId('run-button').disabled = !!state.job?.running || state.model?.state !== 'ready';
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
  let line = t(`job.status.${j.status}`, { device: j.device ?? '', passes: num(j.passes) });
  if (j.status === 'failed' && j.error) line = `${line} ${j.error}`;
  setText(status, line);
  show(byId('cancel-button'), j.running);
  byId('cancel-button').disabled = !j.running;
  show(byId('resume-button'), !j.running && (j.status === 'cancelled' || j.status === 'failed'));
  renderProgress();
}

function renderProgress() {
  const j = state.job;
  const running = j && j.running && j.passes > 0;
  show(byId('progress'), !!running);
  if (!running) return;
  let within = 0;
  if (j.prefill && j.prefill.total > 0 && j.tokensInPass === 0) within = 0.3 * (j.prefill.done / j.prefill.total);
  else if (j.maxOut > 0) within = 0.3 + 0.7 * Math.min(j.tokensInPass / j.maxOut, 1);
  const pct = Math.min(100, ((j.pass + within) / j.passes) * 100);
  byId('progress-fill').style.width = `${pct.toFixed(1)}%`;
  const bar = byId('progress-bar');
  bar.setAttribute('aria-valuenow', pct.toFixed(0));
  const phase = j.tokensInPass === 0 && j.prefill
    ? t('progress.reading', { done: num(j.prefill.done), total: num(j.prefill.total) })
    : t('progress.writing', { tokens: num(j.tokensInPass) });
  const label = t('progress.pass', {
    pass: num(j.pass + 1), passes: num(j.passes), kind: t(`pass.${j.passKind ?? 'whole'}`), phase,
  });
  setText(byId('progress-label'), label);
  bar.setAttribute('aria-valuetext', label);
  const speed = [];
  if (j.tps) speed.push(t('progress.tps', { tps: j.tps.toFixed(1) }));
  if (j.eta != null) speed.push(t('progress.eta', { seconds: num(Math.max(0, Math.round(j.eta))) }));
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

function onDrop(paths) {
  if (!paths.length) return;
  // Several files queue up: the first opens now, the rest wait in the list.
  state.queue.push(...paths.slice(1));
  state.notice = paths.length > 1 ? { key: 'drop.multiple', vars: { count: paths.length - 1 } } : null;
  renderNotice();
  renderQueue();
  openPath(paths[0]);
}

function onQueueClick(e) {
  const b = e.target.closest('button[data-index]');
  if (!b) return;
  const [path] = state.queue.splice(Number(b.dataset.index), 1);
  renderQueue();
  openPath(path);
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

/** Start the chosen task on the open document; resolves to the job id. */
async function run() {
  const v = state.view;
  if (!v) return null;
  state.error = null;
  renderError();
  const task = currentTask();
  try {
    byId('run-button').disabled = true;
    state.early = [];
    const id = await startJob(v.path, task);
    await showJob(id, { running: true });
    return id;
  } catch (err) {
    state.early = null;
    state.error = { ...normalizeError(err), title: 'error.run_title' };
    renderAll();
    return null;
  }
}

/** Show job `id` (from a run or the history), loading its stored state. */
async function showJob(id, { running = false } = {}) {
  const view = await openJob(id);
  const rec = view.job;
  const j = state.job?.id === id ? state.job : newJob(id, rec.task, rec.document_name);
  j.blocks = view.blocks;
  j.running = running || view.running;
  if (rec.status === 'done') {
    j.status = 'done';
    j.result = view.result;
    j.running = false;
  } else if (!j.running) {
    j.status = rec.status === 'running' ? 'cancelled' : rec.status; // a crash left it "running"
    j.error = rec.error;
    j.stream = view.passes_done.join('\n\n');
    j.passes = rec.total_chunks ?? 0;
  }
  state.job = j;
  // The job's first messages (plan, first pass) may have come before we knew its id.
  const early = (state.early ?? []).filter((e) => e.job === id);
  state.early = null;
  for (const e of early) onEvent(e);
  renderAll();
  return j;
}

async function onCancel() {
  const j = state.job;
  if (!j?.running) return;
  byId('cancel-button').disabled = true;
  await cancelJob(j.id);
}

async function onResume() {
  const j = state.job;
  if (!j) return;
  // Running from the click on: the first events may come before the reply.
  const before = { status: j.status, error: j.error, stream: j.stream };
  Object.assign(j, { running: true, status: 'starting', error: null, stream: '' });
  renderAll();
  try {
    await resumeJob(j.id);
  } catch (err) {
    Object.assign(j, before, { running: false });
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
    const j = state.job;
    if (!j || j.result) return;
    renderProgress();
    if (j.kind === 'summarize') setSummaryStreaming(j.stream);
    else setTranslationLive(j.stream);
  }, 100);
}

/** One message from the running job. */
function onEvent(e) {
  const j = state.job;
  // A job that ended changes the history, whichever job it was.
  if (e.event === 'finished' || e.event === 'cancelled' || e.event === 'failed') {
    document.dispatchEvent(new CustomEvent('jobs-changed'));
  }
  if (state.early && (!j || e.job !== j.id)) {
    state.early.push(e);
    return;
  }
  if (!j || e.job !== j.id) return;
  switch (e.event) {
    case 'loading-model':
      j.status = 'loading';
      break;
    case 'model-loaded':
      j.device = e.device;
      break;
    case 'planned':
      j.status = 'running';
      j.passes = e.plan.passes.length;
      j.plan = e.plan;
      break;
    case 'pass-started':
      j.status = 'running';
      j.pass = e.pass;
      j.passes = e.passes;
      j.passKind = e.kind;
      j.prefill = { done: 0, total: e.input_tokens };
      j.maxOut = j.plan?.passes?.[e.pass]?.max_output_tokens ?? 0;
      j.tokensInPass = 0;
      j.passStarted = performance.now();
      j.stream = '';
      break;
    case 'prefill':
      j.prefill = { done: e.done, total: e.total };
      break;
    case 'token': {
      if (j.tokensInPass === 0) j.passStarted = performance.now();
      // One event may carry several tokens (the shell batches them).
      j.tokensInPass += e.tokens;
      j.stream += e.text;
      const secs = (performance.now() - j.passStarted) / 1000;
      if (secs > 0.5) j.tps = j.tokensInPass / secs;
      scheduleStreamRender();
      return; // the rest of the window does not change per token
    }
    case 'pass-finished':
      if (e.tokens_per_second > 0) j.tps = e.tokens_per_second;
      j.eta = e.eta_seconds ?? null;
      j.pass = Math.min(e.pass + 1, e.passes);
      j.tokensInPass = 0;
      j.prefill = null;
      break;
    case 'finished':
      if (state.notice?.key === 'job.cancelled_notice') state.notice = null;
      j.status = 'done';
      j.result = e.result;
      j.running = false;
      break;
    case 'cancelled':
      j.status = 'cancelled';
      j.running = false;
      state.notice = { key: 'job.cancelled_notice', vars: { passes: num(e.passes_done), id: j.id } };
      break;
    case 'failed':
      j.status = 'failed';
      j.error = e.error;
      j.running = false;
      break;
    case 'idle':
      j.running = false;
      if (j.status === 'starting' || j.status === 'loading' || j.status === 'running') j.status = 'cancelled';
      break;
    default:
      return;
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
    exportTo,
    state: () => ({
      ready: !!state.view,
      busy: state.busyName !== null,
      error: state.error,
      plan: state.plan && !state.plan.loading && !state.plan.error ? state.plan : null,
      job: state.job && {
        id: state.job.id, status: state.job.status, running: state.job.running,
        pass: state.job.pass, passes: state.job.passes, tokens: state.job.tokensInPass,
        hasResult: !!state.job.result,
      },
    }),
  });

  onFileDrop({ hover: setDragHover, drop: onDrop }).catch((err) => {
    state.error = normalizeError(err);
    renderError();
  });
  onJobEvent(onEvent).catch((err) => {
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
  document.body.dataset.ready = 'true';
}

start();
