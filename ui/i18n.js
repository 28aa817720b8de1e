// UI strings in English and Chinese. The language follows the system locale
// on first start; the user's choice is remembered.

const STRINGS = {
  en: {
    'app.tagline': 'Long reports, summarized and translated on this computer',
    'lang.label': 'Language',
    'model.loading': 'Checking the model…',
    'model.ready': 'Model: {name} · context {context} tokens',
    'model.missing': 'No model configured — run models/fetch-test-models or set REPORTLENS_MODEL',
    'model.broken': 'The model cannot be read: {message}',
    'drop.title': 'Drop a report here',
    'drop.hint': 'PDF, DOCX, TXT or Markdown. Nothing leaves this computer.',
    'drop.active': 'Release to open',
    'drop.multiple': '{count} files were dropped; opening the first one.',
    'open.button': 'Open a file…',
    'dialog.filter': 'Reports',
    'busy': 'Reading {name} and counting tokens…',
    'facts.pages': 'Pages',
    'facts.blocks': 'Blocks',
    'facts.characters': 'Characters',
    'facts.none': '—',
    'meter.title': 'Token budget',
    'meter.text': '{used} / {context} tokens — {verdict}',
    'meter.fits': 'fits',
    'meter.over': 'does not fit',
    'meter.detail': 'Document {doc} + prompt {prompt} + answer reserve {reserve} = {total} of {context}',
    'meter.model': 'Counted with the tokenizer of {name}',
    'preview.title': 'Text preview',
    'preview.more': 'First {shown} of {total} blocks',
    'preview.all': '{total} blocks',
    'preview.page': 'p. {page}',
    'preview.empty': 'Open or drop a report to see its text here.',
    'error.title': 'Could not open the file',
    'error.hint.no_model': 'Run models/fetch-test-models to get the test model, or set REPORTLENS_MODEL to a GGUF file, then open the file again.',
    'error.hint.engine': 'Check that the file is a PDF, DOCX, TXT or Markdown file with text in it.',
    'error.hint.crashed': 'This is a bug in ReportLens. The file was not changed; please try another file.',
    'error.hint.ui': 'Try opening the file again.',
  },
  zh: {
    'app.tagline': '在本机完成长篇报告的摘要与翻译',
    'lang.label': '语言',
    'model.loading': '正在检查模型…',
    'model.ready': '模型：{name} · 上下文 {context} 个词元',
    'model.missing': '尚未配置模型——请运行 models/fetch-test-models 或设置 REPORTLENS_MODEL',
    'model.broken': '无法读取模型：{message}',
    'drop.title': '将报告拖放到这里',
    'drop.hint': '支持 PDF、DOCX、TXT 和 Markdown，文件不会离开本机。',
    'drop.active': '松开即可打开',
    'drop.multiple': '拖入了 {count} 个文件，先打开第一个。',
    'open.button': '打开文件…',
    'dialog.filter': '报告',
    'busy': '正在读取 {name} 并统计词元…',
    'facts.pages': '页数',
    'facts.blocks': '文本块',
    'facts.characters': '字符数',
    'facts.none': '—',
    'meter.title': '词元预算',
    'meter.text': '{used} / {context} 个词元 — {verdict}',
    'meter.fits': '可以容纳',
    'meter.over': '超出上下文',
    'meter.detail': '文档 {doc} + 提示词 {prompt} + 回答预留 {reserve} = {total}，上限 {context}',
    'meter.model': '使用 {name} 的分词器统计',
    'preview.title': '文本预览',
    'preview.more': '显示前 {shown} 个文本块，共 {total} 个',
    'preview.all': '共 {total} 个文本块',
    'preview.page': '第 {page} 页',
    'preview.empty': '打开或拖入一份报告，即可在此查看其文本。',
    'error.title': '无法打开该文件',
    'error.hint.no_model': '请运行 models/fetch-test-models 获取测试模型，或将 REPORTLENS_MODEL 设为一个 GGUF 文件，然后重新打开。',
    'error.hint.engine': '请确认该文件是含有文字的 PDF、DOCX、TXT 或 Markdown 文件。',
    'error.hint.crashed': '这是 ReportLens 的缺陷。文件未被修改，请尝试其他文件。',
    'error.hint.ui': '请重新打开该文件。',
  },
};

export const LANGUAGES = Object.keys(STRINGS);
const STORAGE_KEY = 'reportlens.lang';
let current = 'en';
const listeners = [];

/** The language from a saved choice, else the system locale, else English. */
export function initialLanguage() {
  let saved = null;
  try { saved = localStorage.getItem(STORAGE_KEY); } catch { /* storage may be off */ }
  if (saved && STRINGS[saved]) return saved;
  const locales = navigator.languages?.length ? navigator.languages : [navigator.language || 'en'];
  for (const loc of locales) {
    const base = String(loc).toLowerCase().split(/[-_]/)[0];
    if (STRINGS[base]) return base;
  }
  return 'en';
}

export function language() {
  return current;
}

/** Switch language, relabel static text, and tell listeners to re-render. */
export function setLanguage(lang, { remember = true } = {}) {
  if (!STRINGS[lang]) lang = 'en';
  current = lang;
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  if (remember) {
    try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* ignore */ }
  }
  for (const node of document.querySelectorAll('[data-i18n]')) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** Translate `key`, filling {placeholders} from `vars`. */
export function t(key, vars = {}) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Format an integer with the current language's grouping (2,791). */
export function num(n) {
  return new Intl.NumberFormat(current === 'zh' ? 'zh-CN' : 'en-US').format(n);
}
