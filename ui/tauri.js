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
export const startJob = (path, task) => tauri().core.invoke('start_job', { path, task });
export const resumeJob = (job) => tauri().core.invoke('resume_job', { job });
export const cancelJob = (job) => tauri().core.invoke('cancel_job', { job });
export const listJobs = () => tauri().core.invoke('list_jobs');
export const openJob = (job) => tauri().core.invoke('open_job', { job });
export const deleteJob = (job) => tauri().core.invoke('delete_job', { job });
export const exportJob = (job, format, path) => tauri().core.invoke('export_job', { job, format, path });
export const editTranslation = (job, index, text) =>
  tauri().core.invoke('edit_translation', { job, index, text });
export const getSettings = () => tauri().core.invoke('get_settings');
export const saveSettings = (settings) => tauri().core.invoke('save_settings', { settings });
export const modelForms = (model) => tauri().core.invoke('model_forms', { model });
export const useModelForm = (model, form) => tauri().core.invoke('use_model_form', { model, form });
export const cancelConversion = () => tauri().core.invoke('cancel_conversion');
export function onConvertEvent(handler) {
  return tauri().event.listen('convert-event', (e) => handler(e.payload));
}

/** Every message of running jobs, in order: `handler(payload)`. */
export function onJobEvent(handler) {
  return tauri().event.listen('job-event', (e) => handler(e.payload));
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
