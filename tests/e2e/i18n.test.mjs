// Every UI string exists in English and Chinese, and every key the markup or
// the modules use is defined. Runs without a window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../ui');
const { STRINGS } = await import(path.join(UI, 'i18n.js'));

test('English and Chinese have the same keys, none empty', () => {
  const en = Object.keys(STRINGS.en).sort();
  const zh = Object.keys(STRINGS.zh).sort();
  assert.deepEqual(zh, en);
  for (const lang of ['en', 'zh']) {
    for (const [k, v] of Object.entries(STRINGS[lang])) assert.ok(v.trim(), `${lang}.${k} is empty`);
  }
});

test('every key used by the markup and the modules is defined', () => {
  const used = new Set();
  const html = readFileSync(path.join(UI, 'index.html'), 'utf8');
  for (const m of html.matchAll(/data-i18n="([^"]+)"/g)) used.add(m[1]);
  for (const f of readdirSync(UI).filter((f) => f.endsWith('.js'))) {
    const js = readFileSync(path.join(UI, f), 'utf8');
    for (const m of js.matchAll(/\bt\('([a-z_.-]+)'/g)) used.add(m[1]);
  }
  // Keys built at run time from a fixed set of values.
  const dynamic = {
    'fig.': ['verified', 'approximate', 'mismatch', 'unsupported'],
    'status.': ['planned', 'running', 'cancelled', 'failed', 'done'],
    'job.status.': ['queued', 'loading', 'running', 'paused', 'done', 'cancelled', 'failed'],
    'queue.state.': ['waiting', 'paused', 'running'],
    'queue.': ['show', 'up', 'down', 'pause', 'resume', 'cancel', 'remove'],
    'pass.': ['whole', 'map', 'reduce', 'head-tail', 'translate'],
    'plan.strategy.': ['whole', 'map-reduce', 'head-tail', 'batched', 'batched_one'],
    'task.': ['summarize', 'translate'],
    'error.hint.': ['no_model', 'engine', 'crashed', 'busy', 'ui'],
    'catalog.': ['present', 'missing'],
  };
  for (const [prefix, values] of Object.entries(dynamic)) for (const v of values) used.add(prefix + v);
  const missing = [...used].filter((k) => !(k in STRINGS.en));
  assert.deepEqual(missing, []);
});
