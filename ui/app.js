// ReportLens window: open or drop a report, show its text and token budget.
// Heavy work happens in the Rust commands (on worker threads); this file only
// wires events to rendering.
import { byId, setText, show } from './dom.js';
import { initialLanguage, setLanguage, onLanguageChange, t, num, language } from './i18n.js';
import { openDocument, modelStatus, pickFile, onFileDrop } from './tauri.js';
import { renderMeter } from './meter.js';
import { renderPreview, clearPreview } from './preview.js';

const state = {
  view: null, // the last DocumentView shown
  error: null, // { code, message } of the last failure
  model: null, // the last ModelStatus
  busyName: null,
  seq: 0, // discards results of superseded opens
  notice: null, // { key, vars } of an informational line
};

function baseName(path) {
  return String(path).split(/[\\/]/).pop() || String(path);
}

function normalizeError(err) {
  if (err && typeof err === 'object' && 'message' in err) {
    return { code: err.code ?? 'ui', message: String(err.message) };
  }
  return { code: 'ui', message: String(err) };
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
    setText(node, t('model.ready', { name: m.name, context: num(m.context_length) }));
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
  setText(byId('error-title'), t('error.title'));
  setText(byId('error-message'), e.message);
  setText(byId('error-hint'), t(`error.hint.${e.code}`));
}

function renderNotice() {
  const n = state.notice;
  show(byId('notice'), !!n);
  setText(byId('notice'), n ? t(n.key, n.vars) : '');
}

function renderDocument() {
  const v = state.view;
  show(byId('doc'), !!v);
  if (!v) {
    clearPreview();
    return;
  }
  setText(byId('doc-name'), v.name);
  byId('doc-name').title = v.path;
  setText(byId('doc-pages'), v.pages != null ? num(v.pages) : t('facts.none'));
  setText(byId('doc-blocks'), num(v.block_count));
  setText(byId('doc-chars'), num(v.plan.characters));
  renderMeter(v.plan);
  renderPreview(v);
}

function renderAll() {
  renderModel();
  renderBusy();
  renderError();
  renderNotice();
  renderDocument();
}

// ---- actions -------------------------------------------------------------

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
    renderAll();
    byId('doc-heading').focus?.();
    return 'ready';
  } catch (err) {
    if (seq !== state.seq) return 'superseded';
    state.error = normalizeError(err);
    state.view = null; // don't leave another file's figures under this file's error
    state.busyName = null;
    renderAll();
    return 'error';
  }
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
  state.notice = paths.length > 1 ? { key: 'drop.multiple', vars: { count: paths.length } } : null;
  renderNotice();
  openPath(paths[0]);
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
  renderModel();
}

// ---- start ---------------------------------------------------------------

function start() {
  const select = byId('lang-select');
  setLanguage(initialLanguage(), { remember: false });
  select.value = language();
  select.addEventListener('change', () => setLanguage(select.value));
  onLanguageChange(() => renderAll());

  byId('open-button').addEventListener('click', onOpenClicked);
  renderAll();

  // The test hook and the drop handler share openPath.
  window.__reportlens = Object.freeze({
    openPath,
    state: () => ({ ready: !!state.view, busy: state.busyName !== null, error: state.error }),
  });

  onFileDrop({ hover: setDragHover, drop: onDrop }).catch((err) => {
    state.error = normalizeError(err);
    renderError();
  });
  refreshModel();
  document.body.dataset.ready = 'true';
}

start();
