import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IGNORED_KEYS, KEYS, type KeyDef } from '../../../src/config/schema.js';
import { parseProperties } from '../../../src/config/properties.js';
import { resolveConfig } from '../../../src/config/load.js';

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const example = fs.readFileSync(path.join(repoRoot(), 'config.properties.example'), 'utf8');
/** The commented-out `#key=default` lines, parsed as properties. */
const documented = new Map(
  parseProperties(
    example
      .split('\n')
      .filter((l) => /^#[a-z_]+=/.test(l))
      .map((l) => l.slice(1))
      .join('\n'),
  ).map((e) => [e.key, e.value]),
);

test('config.properties.example lists every key of the schema with its default', () => {
  for (const def of KEYS as readonly KeyDef[]) {
    assert.ok(documented.has(def.key), `config.properties.example does not document ${def.key}`);
    assert.equal(documented.get(def.key), def.default ?? '', `default of ${def.key}`);
  }
  for (const key of documented.keys()) assert.ok((KEYS as readonly KeyDef[]).some((d) => d.key === key), `${key} is not a schema key`);
});

test('config.properties.example names every ignored TorchServe key', () => {
  for (const key of IGNORED_KEYS) assert.match(example, new RegExp(`\\b${key}\\b`), key);
});

test('the example, uncommented, is a valid configuration equal to the defaults', () => {
  const entries = [...documented].map(([key, value], i) => ({ key, value, line: i + 1 }));
  const fromExample = resolveConfig({ file: { path: 'example', kind: 'file', entries }, cli: {}, env: {}, cwd: '/x' }).config;
  const defaults = resolveConfig({ file: undefined, cli: {}, env: {}, cwd: '/x' }).config;
  for (const def of KEYS as readonly KeyDef[]) {
    const field = def.field as keyof typeof defaults;
    assert.deepEqual(fromExample[field], defaults[field], def.key);
  }
});

test('docs/configuration.md has a row for every key', () => {
  const doc = fs.readFileSync(path.join(repoRoot(), 'docs/configuration.md'), 'utf8');
  for (const def of KEYS as readonly KeyDef[]) assert.ok(doc.includes(`| \`${def.key}\` |`), `docs/configuration.md misses ${def.key}`);
});
