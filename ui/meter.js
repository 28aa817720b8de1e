// The token meter: document tokens against the model's context, with the
// prompt and answer reserve shown as a second segment. Red when it won't fit.
import { byId, setText } from './dom.js';
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
}
