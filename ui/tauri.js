// The only module that touches window.__TAURI__: commands, the file dialog,
// and the webview's drag-drop event.

function tauri() {
  const api = window.__TAURI__;
  if (!api?.core) throw new Error('Tauri API unavailable (is withGlobalTauri on?)');
  return api;
}

export function openDocument(path) {
  return tauri().core.invoke('open_document', { path });
}

export function modelStatus() {
  return tauri().core.invoke('model_status');
}

/** Ask the user for one report; resolves to a path or null when cancelled. */
export function pickFile(filterName) {
  return pickPath({ filterName, extensions: ['pdf', 'docx', 'txt', 'md'] });
}

/**
 * Listen for files dragged onto the window. `handlers.hover(bool)` follows the
 * drag; `handlers.drop(paths)` gets the dropped paths.
 */
export async function onFileDrop(handlers) {
  const webview = tauri().webview?.getCurrentWebview?.();
  if (!webview) throw new Error('Tauri webview API unavailable');
  return webview.onDragDropEvent((event) => {
    const p = event.payload;
    if (p.type === 'enter' || p.type === 'over') handlers.hover(true);
    else if (p.type === 'leave') handlers.hover(false);
    else if (p.type === 'drop') {
      handlers.hover(false);
      handlers.drop(p.paths ?? []);
    }
  });
}

// ---- jobs ------------------------------------------------------------------

export const planTask = (path, task) => tauri().core.invoke('plan_task', { path, task });
/** Queue the open document; resolves to its job id. */
export const startJob = (path, task) => tauri().core.invoke('start_job', { path, task });
/** Queue files and folders (walked); resolves to { jobs, refused: [{ path, message }] }. */
export const queueFiles = (paths, task) => tauri().core.invoke('queue_files', { paths, task });
export const queueView = () => tauri().core.invoke('queue_view');
// Each queue action resolves to the queue as it is after it.
export const resumeJob = (job) => tauri().core.invoke('resume_job', { job });
export const pauseJob = (job) => tauri().core.invoke('pause_job', { job });
export const cancelJob = (job) => tauri().core.invoke('cancel_job', { job });
export const moveJob = (job, to) => tauri().core.invoke('move_job', { job, to });
export const listJobs = () => tauri().core.invoke('list_jobs');
export const openJob = (job) => tauri().core.invoke('open_job', { job });
export const deleteJob = (job) => tauri().core.invoke('delete_job', { job });
export const exportJob = (job, format, path) => tauri().core.invoke('export_job', { job, format, path });
export const editTranslation = (job, index, text) =>
  tauri().core.invoke('edit_translation', { job, index, text });
export const getSettings = () => tauri().core.invoke('get_settings');
/** `apiKey`: null keeps the saved key, '' forgets it. */
export const saveSettings = (settings, apiKey = null) =>
  tauri().core.invoke('save_settings', { settings, apiKey });
export const modelForms = (model) => tauri().core.invoke('model_forms', { model });
export const useModelForm = (model, form) => tauri().core.invoke('use_model_form', { model, form });
export const cancelConversion = () => tauri().core.invoke('cancel_conversion');
export function onConvertEvent(handler) {
  return tauri().event.listen('convert-event', (e) => handler(e.payload));
}

/**
 * Every job's events, in order, each with the job's progress as the engine
 * keeps it: `handler({ event, progress })`. The channel is handed to the
 * shell once; resolves to the queue as it is then.
 */
export function watchJobs(handler) {
  const api = tauri();
  const channel = new api.core.Channel();
  channel.onmessage = handler;
  return api.core.invoke('watch_jobs', { onEvent: channel });
}

/** Ask where to save an export; resolves to a path or null. */
export async function pickSavePath(defaultPath, filterName, extension) {
  const options = { defaultPath, filters: [{ name: filterName, extensions: [extension] }] };
  const api = tauri();
  const picked = api.dialog?.save
    ? await api.dialog.save(options)
    : await api.core.invoke('plugin:dialog|save', { options });
  return picked ?? null;
}

/** Ask for a model file or folder, or a glossary; resolves to a path or null. */
export async function pickPath({ directory = false, filterName, extensions }) {
  const options = { multiple: false, directory };
  if (!directory && extensions) options.filters = [{ name: filterName, extensions }];
  const api = tauri();
  const picked = api.dialog?.open
    ? await api.dialog.open(options)
    : await api.core.invoke('plugin:dialog|open', { options });
  if (Array.isArray(picked)) return picked[0] ?? null;
  return picked ?? null;
}
