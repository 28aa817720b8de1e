// The token meter: document tokens against the model's context, with the
// prompt and answer reserve shown as a second segment. Red when it won't fit.
import { byId, setText, show } from './dom.js';
import { t, num } from './i18n.js';

export function renderMeter(plan) {
  const b = plan.budget;
  const meter = byId('token-meter');
  const text = byId('token-meter-text');
  const verdict = b.fits ? t('meter.fits') : t('meter.over');
  const label = t('meter.text', {
    used: num(b.document_tokens),
    context: num(b.context_length),
    verdict,
  });

  const ctx = Math.max(b.context_length, 1);
  const docShare = Math.min(b.document_tokens / ctx, 1);
  const restShare = Math.min((b.total_tokens - b.document_tokens) / ctx, 1 - docShare);
  // CSSOM writes are allowed under the strict CSP (style attributes in markup are not).
  byId('token-meter-doc').style.width = `${(docShare * 100).toFixed(2)}%`;
  byId('token-meter-rest').style.width = `${(Math.max(restShare, 0) * 100).toFixed(2)}%`;

  meter.setAttribute('aria-valuemax', String(b.context_length));
  meter.setAttribute('aria-valuenow', String(Math.min(b.total_tokens, b.context_length)));
  meter.setAttribute('aria-valuetext', label);
  meter.classList.toggle('over', !b.fits);

  setText(text, label);
  text.classList.toggle('over', !b.fits);
  Object.assign(text.dataset, {
    documentTokens: String(b.document_tokens),
    contextLength: String(b.context_length),
    totalTokens: String(b.total_tokens),
    fits: String(b.fits),
  });

  setText(byId('token-meter-detail'), t('meter.detail', {
    doc: num(b.document_tokens),
    prompt: num(b.prompt_overhead),
    reserve: num(b.output_reserve),
    total: num(b.total_tokens),
    context: num(b.context_length),
  }));
  setText(byId('token-meter-model'), t('meter.model', { name: plan.model.name }));

  // Scanned pages inside a text PDF: said beside the meter, since they are not counted.
  const noText = plan.no_text_pages || [];
  const note = byId('token-meter-no-text');
  show(note, noText.length > 0);
  setText(note, noText.length === 0 ? '' : t(noText.length === 1 ? 'meter.noTextOne' : 'meter.noText', {
    pages: pageRanges(noText),
  }));
}

/** [45, 46, 47, 52] -> "45–47, 52". */
function pageRanges(pages) {
  const out = [];
  for (const p of [...pages].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && p === last[1] + 1) last[1] = p;
    else out.push([p, p]);
  }
  return out.map(([a, b]) => (a === b ? String(a) : `${a}–${b}`)).join(', ');
}
