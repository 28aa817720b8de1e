// Settings: model (file or folder, with the catalogue of known models and
// whether each is here and fits), device, default languages, glossary. Saved
// by the engine in the data folder; a bad value is refused with the reason.
import { byId, el, clear, setText, show } from './dom.js';
import { t, num } from './i18n.js';
import {
  getSettings, saveSettings, pickPath, modelForms, useModelForm, cancelConversion, onConvertEvent,
} from './tauri.js';

let view = null; // the last SettingsView
let draft = null; // the settings being edited
let handlers = { onSaved: () => {}, onDefaults: () => {} };

export function settingsState() {
  return view;
}

function gib(bytes) {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GiB`;
}

// An entry is the catalogue model's fields (flattened) plus path, present, too_large.
function catalogItems(entries) {
  return entries.map((e) => {
    const size = e.files.reduce((s, f) => s + (f.size ?? f.approx_size ?? 0), 0);
    const state = e.present ? 'present' : 'missing';
    const notes = [t(`catalog.${state}`)];
    if (e.too_large) notes.push(t('catalog.too_large'));
    const use = e.present
      ? el('button', { type: 'button', class: 'ghost', dataset: { path: e.path } }, t('catalog.use'))
      : null;
    return el('li', { class: `catalog-item ${state}`, dataset: { id: e.id } },
      el('strong', {}, e.name),
      el('span', { class: 'muted' }, ` · ${e.parameters} · ${t('catalog.context', { n: num(e.context_length) })} · ${gib(size)}`),
      el('span', { class: `tag ${e.too_large ? 'bad' : state}` }, notes.join(' · ')),
      el('span', { class: 'path' }, e.present ? e.path : e.source),
      use);
  });
}

// A model directory runs dense or converted once; each form with its memory.
async function renderForms() {
  const box = byId('settings-forms');
  const list = byId('settings-forms-list');
  let v = null;
  try {
    v = await modelForms(draft.model ?? null);
  } catch { v = null; }
  show(box, !!v);
  clear(list);
  if (!v) return;
  for (const o of v.options) {
    const chosen = v.chosen === o.form || (!v.chosen && o.form === 'dense');
    const state = o.file ? (o.ready ? 'forms.converted' : 'forms.not_converted') : 'forms.as_is';
    const use = chosen
      ? el('span', { class: 'tag present' }, t('forms.in_use'))
      : el('button', { type: 'button', class: 'ghost', dataset: { form: o.form } },
        t(o.ready ? 'forms.use' : 'forms.convert'));
    list.append(el('li', { class: 'catalog-item', dataset: { form: o.form } },
      el('strong', {}, t(`forms.${o.form}`)),
      el('span', { class: 'muted' }, ` · ${t('forms.needs', { size: gib(o.memory) })} · ${t(state)}`),
      use));
  }
}

async function chooseForm(form) {
  const progress = byId('settings-forms-progress');
  const cancel = byId('settings-forms-cancel');
  const err = byId('settings-error');
  show(err, false);
  show(progress, true);
  show(cancel, true);
  setText(progress, t('forms.preparing'));
  const stop = await onConvertEvent((e) => {
    setText(progress, t('forms.progress', { done: num(e.done), total: num(e.total) }));
  });
  try {
    await useModelForm(draft.model ?? null, form);
  } catch (e) {
    setText(err, String(e?.message ?? e));
    show(err, true);
  } finally {
    stop();
    // The choice is saved already; keep it when the rest of the dialog is saved.
    try { draft.forms = (await getSettings()).settings.forms; } catch { /* shown on save */ }
    show(progress, false);
    show(cancel, false);
    await renderForms();
  }
}

function renderForm() {
  const s = draft;
  setText(byId('settings-model-path'), s.model ?? t('settings.default_model'));
  const env = view.env_model;
  show(byId('settings-env'), !!env);
  if (env) setText(byId('settings-env'), t('settings.env_override', { path: env }));
  byId('settings-device').value = s.device;
  byId('settings-kv-cache').value = s.kv_cache;
  byId('settings-summary-lang').value = s.summary_lang;
  byId('settings-summary-mode').value = s.summary_mode;
  byId('settings-translate-to').value = s.translate_to;
  setText(byId('settings-glossary'), s.glossary ?? t('settings.no_glossary'));
  renderServer(s.server);
  const list = byId('settings-catalog');
  clear(list);
  list.append(...catalogItems(view.catalog));
  const welcome = byId('welcome-catalog');
  clear(welcome);
  welcome.append(...catalogItems(view.catalog));
  renderForms();
}

/** The engine: this computer, or an OpenAI-compatible server (URL, model, key). */
function renderServer(server) {
  const remote = !!server;
  byId('settings-engine-local').checked = !remote;
  byId('settings-engine-server').checked = remote;
  show(byId('settings-server'), remote);
  byId('settings-server-url').value = server?.url ?? '';
  byId('settings-server-model').value = server?.model ?? '';
  byId('settings-server-parallel').value = String(server?.parallel ?? 4);
  const key = byId('settings-server-key');
  key.value = '';
  key.placeholder = t(view.env_api_key ? 'settings.key_env' : view.has_api_key ? 'settings.key_saved' : 'settings.key_none');
  byId('settings-server-key-clear').disabled = !view.has_api_key;
  keyChange = null;
}

// What Save does with the API key: null keeps it, '' forgets it, else replaces it.
let keyChange = null;

function serverFromForm() {
  if (!byId('settings-engine-server').checked) return null;
  return {
    url: byId('settings-server-url').value.trim(),
    model: byId('settings-server-model').value.trim(),
    parallel: Math.max(1, Number(byId('settings-server-parallel').value) || 1),
  };
}

export async function loadSettings() {
  view = await getSettings();
  draft = { ...view.settings };
  handlers.onDefaults(view.settings);
  renderForm();
  return view;
}

export async function openSettings() {
  const d = byId('settings-dialog');
  show(byId('settings-error'), false);
  try {
    await loadSettings();
  } catch (err) {
    setText(byId('settings-error'), String(err?.message ?? err));
    show(byId('settings-error'), true);
  }
  if (!d.open) d.showModal();
}

/** Remember the UI language with the other settings (best effort). */
export async function saveUiLanguage(lang) {
  if (!view) return;
  try {
    view = await saveSettings({ ...view.settings, ui_lang: lang });
    draft = { ...view.settings };
  } catch { /* the choice still applies to this window */ }
}

async function save() {
  const err = byId('settings-error');
  show(err, false);
  const next = {
    ...draft,
    device: byId('settings-device').value,
    kv_cache: byId('settings-kv-cache').value,
    summary_lang: byId('settings-summary-lang').value,
    summary_mode: byId('settings-summary-mode').value,
    translate_to: byId('settings-translate-to').value,
    server: serverFromForm(),
  };
  const typed = byId('settings-server-key').value.trim();
  try {
    view = await saveSettings(next, typed || keyChange);
    draft = { ...view.settings };
    handlers.onDefaults(view.settings);
    byId('settings-dialog').close();
    handlers.onSaved(view);
  } catch (e) {
    setText(err, String(e?.message ?? e));
    show(err, true);
  }
}

export function initSettings(h) {
  handlers = h;
  const d = byId('settings-dialog');
  d.querySelector('[data-close]').addEventListener('click', () => d.close());
  byId('settings-save').addEventListener('click', save);
  byId('settings-forms-list').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-form]');
    if (b) chooseForm(b.dataset.form);
  });
  byId('settings-forms-cancel').addEventListener('click', () => cancelConversion());
  byId('choose-model-file').addEventListener('click', async () => {
    const p = await pickPath({ filterName: 'GGUF', extensions: ['gguf'] });
    if (p) { draft.model = p; renderForm(); }
  });
  byId('choose-model-dir').addEventListener('click', async () => {
    const p = await pickPath({ directory: true });
    if (p) { draft.model = p; renderForm(); }
  });
  byId('use-test-model').addEventListener('click', () => { draft.model = null; renderForm(); });
  byId('choose-glossary').addEventListener('click', async () => {
    const p = await pickPath({ filterName: t('settings.glossary'), extensions: ['tsv', 'csv', 'txt'] });
    if (p) { draft.glossary = p; renderForm(); }
  });
  for (const id of ['settings-engine-local', 'settings-engine-server']) {
    byId(id).addEventListener('change', () => show(byId('settings-server'), byId('settings-engine-server').checked));
  }
  byId('settings-server-key-clear').addEventListener('click', () => {
    keyChange = '';
    byId('settings-server-key').value = '';
    byId('settings-server-key').placeholder = t('settings.key_forget');
  });
  byId('clear-glossary').addEventListener('click', () => { draft.glossary = null; renderForm(); });
  for (const list of [byId('settings-catalog'), byId('welcome-catalog')]) {
    list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-path]');
      if (!b) return;
      draft.model = b.dataset.path;
      renderForm();
      if (!d.open) d.showModal();
    });
  }
}
