// The plan shown before running: strategy, passes with their tokens and
// pages, what head-tail would drop, and the estimated time on this machine.
import { byId, el, clear, setText, show } from './dom.js';
import { t, num } from './i18n.js';

function pagesLabel(chunk) {
  if (!chunk?.pages) return '';
  const [a, b] = chunk.pages;
  return a === b ? t('preview.page', { page: a }) : t('plan.pages', { from: a, to: b });
}

function clearPlan() {
  setText(byId('plan-strategy'), '');
  clear(byId('plan-passes'));
  show(byId('plan-dropped'), false);
  setText(byId('plan-estimate'), '');
}

/** `plan`: a Plan, `{loading}`, `{error}` or null. */
export function renderPlan(plan, model) {
  clearPlan();
  const strategy = byId('plan-strategy');
  if (!plan) return;
  if (plan.loading) {
    setText(strategy, t('plan.loading'));
    return;
  }
  if (plan.error) {
    strategy.dataset.state = 'error';
    setText(strategy, plan.error);
    return;
  }
  strategy.dataset.state = 'ok';
  strategy.dataset.strategy = plan.strategy;
  strategy.dataset.passes = String(plan.passes.length);
  const key = plan.passes.length === 1 && plan.strategy === 'batched' ? 'batched_one' : plan.strategy;
  setText(strategy, t(`plan.strategy.${key}`, {
    passes: num(plan.passes.length),
    context: num(plan.budget.context_length),
  }));
  const list = byId('plan-passes');
  list.append(...plan.passes.map((p) => el('li', { dataset: { kind: p.kind } },
    t('plan.pass', {
      kind: t(`pass.${p.kind}`),
      input: num(p.input_tokens),
      output: num(p.max_output_tokens),
      pages: p.chunk != null ? pagesLabel(plan.chunks[p.chunk]) : '',
    }).trim())));
  if (plan.dropped) {
    setText(byId('plan-dropped'), t('plan.dropped', { tokens: num(plan.dropped.tokens) }));
    show(byId('plan-dropped'), true);
  }
  const device = model?.device ? ` · ${model.device}` : '';
  setText(byId('plan-estimate'), plan.estimated_seconds != null
    ? t('plan.estimate', { seconds: num(Math.max(1, Math.round(plan.estimated_seconds))) }) + device
    : t('plan.estimate_unknown') + device);
}
