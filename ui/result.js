// Results: the summary beside its source, the translation aligned block by
// block, and every checked figure marked in place. All text goes in through
// text nodes (dom.js); figure marks are elements wrapped around text spans.
import { byId, el, clear, setText, show } from './dom.js';
import { t, num } from './i18n.js';

const STATUSES = ['verified', 'derived', 'approximate', 'mismatch', 'unsupported'];

/** Page label of a source figure, or ''. */
function pageLabel(source) {
  return source?.page != null ? t('preview.page', { page: source.page }) : '';
}

/** The tooltip of one figure mark. */
function markTitle(m) {
  const status = t(`fig.${m.status}`);
  // A derived figure: its formula, as the engine wrote it, with the page.
  if (m.formula) return `${status}: ${m.formula}`;
  if (!m.source) return `${status}: ${m.reason}`;
  const where = pageLabel(m.source);
  return `${status}: ${t('fig.source', { text: m.source.text, where: where ? ` (${where})` : '' })} — ${m.reason}`;
}

/**
 * `text` as nodes, with the char spans of `marks` (Unicode scalar offsets,
 * as the engine counts) wrapped in <mark>. `onFigure(mark)` runs on click.
 */
export function markedText(text, marks, onFigure) {
  const chars = Array.from(text);
  const sorted = [...marks].sort((a, b) => a.start - b.start);
  const out = [];
  let at = 0;
  for (const m of sorted) {
    if (m.start < at || m.end > chars.length) continue; // overlapping or stale: skip
    if (m.start > at) out.push(document.createTextNode(chars.slice(at, m.start).join('')));
    const node = el('mark', {
      class: `fig fig-${STATUSES.includes(m.status) ? m.status : 'unsupported'}`,
      title: markTitle(m),
      tabindex: '0',
      role: 'button',
      dataset: { status: m.status, testid: 'figure' },
      'aria-label': `${chars.slice(m.start, m.end).join('')}: ${markTitle(m)}`,
    }, chars.slice(m.start, m.end).join(''));
    if (onFigure) {
      node.addEventListener('click', () => onFigure(m));
      node.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onFigure(m); }
      });
    }
    out.push(node);
    at = m.end;
  }
  if (at < chars.length) out.push(document.createTextNode(chars.slice(at).join('')));
  return out;
}

/** The findings line: counts per status. */
export function renderFindings(findings) {
  const node = byId('findings');
  if (!findings) {
    show(node, false);
    return;
  }
  const c = findings.counts;
  clear(node);
  node.append(
    el('span', {}, t('findings.total', { total: num(c.total) })),
    ...STATUSES.map((s) => el('span', { class: `chip fig-${s}`, dataset: { status: s } },
      `${t(`fig.${s}`)} ${num(c[s] ?? 0)}`)),
  );
  show(node, true);
}

/** Source blocks in the left pane of the summary view. */
export function renderSourceBlocks(blocks) {
  const list = byId('source-blocks');
  clear(list);
  list.append(...blocks.map((b, i) => el('li', {
    class: `block block-${b.kind}`,
    id: `src-${i}`,
    dataset: { index: String(i) },
  },
  b.page != null ? el('span', { class: 'page' }, t('preview.page', { page: b.page })) : null,
  el(b.kind === 'table' ? 'pre' : 'p', { class: 'block-text' }, b.text))));
  list.classList.toggle('no-pages', !blocks.some((b) => b.page != null));
}

/** Scroll the source pane to block `index` and flash it. */
export function revealSource(index) {
  const node = document.getElementById(`src-${index}`);
  if (!node) return;
  node.scrollIntoView({ block: 'center' });
  node.classList.remove('flash');
  void node.offsetWidth; // restart the animation
  node.classList.add('flash');
}

/** Summary text before it is checked (plain, no marks); a caret while `live`. */
export function setSummaryStreaming(text, live = true) {
  const node = byId('summary-text');
  node.classList.toggle('streaming', live);
  setText(node, text);
  node.scrollTop = node.scrollHeight;
}

/** The finished summary with its figures marked. */
export function renderSummary(result) {
  const node = byId('summary-text');
  node.classList.remove('streaming');
  clear(node);
  node.append(...markedText(result.markdown, result.findings.marks, (m) => {
    if (m.source) revealSource(m.source.block);
  }));
  renderKeyFigures(result.findings.key_figures || []);
}

/**
 * The key-figures table of a financial summary, read from the source's statements
 * (not from the model): one row per metric, each linked to its page in the source.
 */
export function renderKeyFigures(rows) {
  const box = byId('key-figures');
  const body = byId('key-figures-rows');
  clear(body);
  show(box, rows.length > 0);
  for (const r of rows) {
    const page = r.page != null ? t('preview.page', { page: r.page }) : '';
    const link = el('button', {
      type: 'button',
      class: 'link',
      title: t('keys.reveal'),
      dataset: { testid: 'key-figure-page', block: String(r.block) },
    }, page || '↗');
    link.addEventListener('click', () => revealSource(r.block));
    body.append(el('tr', { dataset: { metric: r.metric, testid: 'key-figure' } },
      el('th', { scope: 'row' }, t(`keys.${r.metric}`)),
      el('td', { class: 'label' }, r.label),
      el('td', {}, r.period),
      el('td', { class: 'num' }, r.value),
      el('td', { class: 'num' }, r.prior_value ?? ''),
      el('td', { class: 'num' }, r.change ?? ''),
      el('td', {}, r.unit ?? ''),
      el('td', {}, link)));
  }
}

/**
 * `text` laid out as a table (rows by line, cells by tab), each cell with the
 * marks that fall inside it. `null` when the text is not such a grid.
 */
function cellTable(text, marks) {
  if (!text.includes('\t')) return null;
  const table = el('table', { class: 'cells' });
  let offset = 0;
  for (const line of text.split('\n')) {
    const tr = el('tr');
    for (const cell of line.split('\t')) {
      const len = Array.from(cell).length;
      const inside = marks
        .filter((m) => m.start >= offset && m.end <= offset + len)
        .map((m) => ({ ...m, start: m.start - offset, end: m.end - offset }));
      tr.append(el('td', {}, ...markedText(cell, inside)));
      offset += len + 1; // the tab or the line break
    }
    table.append(tr);
  }
  return table;
}

/** A table block as a table; text blocks as text. */
function blockContent(kind, text, marks) {
  const grid = kind === 'table' ? cellTable(text, marks) : null;
  return grid ? [grid] : markedText(text, marks);
}

/**
 * The aligned translation: one row per source block. `onEdit(index, text)`
 * saves a user's edit of a translated block.
 */
export function renderPairs(result, onEdit) {
  const body = byId('pairs-body');
  clear(body);
  const byPair = new Map();
  for (const m of result.findings.marks) {
    if (m.pair == null) continue;
    if (!byPair.has(m.pair)) byPair.set(m.pair, []);
    byPair.get(m.pair).push(m);
  }
  result.pairs.forEach((p, i) => {
    const src = el('td', { class: `src block-${p.kind}`, dataset: { testid: 'pair-source' } },
      p.page != null ? el('span', { class: 'page' }, t('preview.page', { page: p.page })) : null,
      el('div', { class: 'cell-text', dataset: { text: p.source } }, ...blockContent(p.kind, p.source, [])));
    // Tables keep their grid (numbers pass through untouched); text blocks are editable.
    const grid = p.kind === 'table' && p.target.includes('\t');
    const text = el('div', {
      class: 'cell-text',
      contenteditable: grid ? null : 'plaintext-only',
      spellcheck: 'false',
      'aria-label': t('pairs.edit', { n: i + 1 }),
    }, ...blockContent(p.kind, p.target, byPair.get(i) || []));
    text.addEventListener('focus', () => { text.dataset.before = text.textContent; });
    text.addEventListener('blur', () => {
      const now = text.textContent;
      if (now !== text.dataset.before && onEdit) onEdit(i, now);
    });
    const tgt = el('td', { class: `tgt block-${p.kind}`, dataset: { testid: 'pair-target' } }, text);
    const row = el('tr', { dataset: { index: String(i), kind: p.kind } }, src, tgt);
    // Hovering or focusing either side highlights its partner.
    for (const ev of ['mouseenter', 'focusin']) row.addEventListener(ev, () => row.classList.add('hot'));
    for (const ev of ['mouseleave', 'focusout']) row.addEventListener(ev, () => row.classList.remove('hot'));
    body.append(row);
  });
}

export function setTranslationLive(text) {
  const node = byId('translation-live');
  show(node, !!text);
  setText(node, text);
  node.scrollTop = node.scrollHeight;
}
