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
export async function pickFile(filterName) {
  const options = {
    multiple: false,
    directory: false,
    filters: [{ name: filterName, extensions: ['pdf', 'docx', 'txt', 'md'] }],
  };
  const api = tauri();
  const picked = api.dialog?.open
    ? await api.dialog.open(options)
    : await api.core.invoke('plugin:dialog|open', { options });
  if (Array.isArray(picked)) return picked[0] ?? null;
  return picked ?? null;
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
