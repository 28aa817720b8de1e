// Past jobs from the store: reopen without recomputing, resume an unfinished
// one, delete. The list is refreshed whenever a job ends.
import { byId, el, clear, show } from './dom.js';
import { t } from './i18n.js';
import { listJobs, deleteJob } from './tauri.js';

let handlers = { onOpen: () => {} };

function when(ms) {
  return new Date(ms).toLocaleString(document.documentElement.lang || undefined);
}

export async function refreshHistory() {
  const body = byId('history-list');
  let jobs;
  try {
    jobs = await listJobs();
  } catch (err) {
    clear(body);
    body.append(el('tr', {}, el('td', { colspan: '6', class: 'error-inline' }, String(err?.message ?? err))));
    return;
  }
  clear(body);
  show(byId('history-empty'), jobs.length === 0);
  for (const j of jobs) {
    const progress = j.total_chunks ? ` (${j.done_chunks}/${j.total_chunks})` : '';
    const open = el('button', { type: 'button', class: 'ghost', dataset: { action: 'open', job: String(j.id), testid: 'history-open' } },
      t(j.status === 'done' ? 'history.open' : 'history.open_resume'));
    const del = el('button', { type: 'button', class: 'ghost danger-text', dataset: { action: 'delete', job: String(j.id), testid: 'history-delete' } },
      t('history.delete'));
    body.append(el('tr', { dataset: { job: String(j.id), status: j.status } },
      el('td', { title: j.model_id }, j.document_name),
      el('td', {}, t(`task.${j.task}`)),
      el('td', { class: `status status-${j.status}` }, t(`status.${j.status}`) + progress),
      el('td', { class: 'device' }, j.device ?? '—'),
      el('td', {}, when(j.updated_at)),
      el('td', { class: 'actions' }, open, del)));
  }
}

export function openHistory() {
  const d = byId('history-dialog');
  refreshHistory();
  if (!d.open) d.showModal();
}

export function initHistory(h) {
  handlers = h;
  const d = byId('history-dialog');
  d.querySelector('[data-close]').addEventListener('click', () => d.close());
  byId('history-list').addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    const id = Number(b.dataset.job);
    if (b.dataset.action === 'open') {
      d.close();
      await handlers.onOpen(id);
    } else if (b.dataset.action === 'delete') {
      b.disabled = true;
      try {
        await deleteJob(id);
      } catch (err) {
        b.disabled = false;
        b.title = String(err?.message ?? err);
        return;
      }
      refreshHistory();
    }
  });
  document.addEventListener('jobs-changed', () => { if (d.open) refreshHistory(); });
}
