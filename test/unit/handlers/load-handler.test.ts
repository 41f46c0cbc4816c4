import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadHandler } from '../../../src/handlers/load-handler.js';

test('a custom handler is named as the archive names it, never by its extraction path', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsserve-handler-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'my_handler.mjs'), 'export function postprocess(x) { return x; }\n');
  const byPath = await loadHandler({ handler: path.join(dir, 'my_handler.mjs'), modelDir: dir });
  assert.equal(byPath.name, 'my_handler.mjs');
  assert.equal(byPath.builtin, false);
  const builtin = await loadHandler({ handler: 'base_handler', modelDir: dir });
  assert.equal(builtin.builtin, true);
});
