// The text preview: one list item per block with its page number. Text is
// inserted with textContent only (see dom.js).
import { byId, el, clear, setText, show } from './dom.js';
import { t, num } from './i18n.js';

export function renderPreview(view) {
  const list = byId('preview');
  clear(list);
  const items = view.blocks.map((b, i) =>
    el('li', { class: `block block-${b.kind}`, dataset: { kind: b.kind, index: String(i) } },
      b.page != null ? el('span', { class: 'page' }, t('preview.page', { page: b.page })) : null,
      el(b.kind === 'table' ? 'pre' : 'p', { class: 'block-text' }, b.text),
    ));
  list.append(...items);
  // Formats without pages (DOCX, text) get no page column.
  list.classList.toggle('no-pages', !view.blocks.some((b) => b.page != null));
  const more = view.block_count > view.blocks.length
    ? t('preview.more', { shown: num(view.blocks.length), total: num(view.block_count) })
    : t('preview.all', { total: num(view.block_count) });
  setText(byId('preview-more'), more);
  show(byId('preview-empty'), false);
  list.scrollTop = 0;
}

export function clearPreview() {
  clear(byId('preview'));
  setText(byId('preview-more'), '');
  show(byId('preview-empty'), true);
}
