/**
 * STYLE.md "Dependencies point one way": http -> services (registry, groups, auth) -> engine
 * (workers, archive, store). config, errors, logger are leaves. Nothing imports http or fastify
 * outside src/http (and the composition root); workers never import registry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo.js';

const SRC = path.join(REPO_ROOT, 'src');

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* tsFiles(full);
    else if (name.endsWith('.ts')) yield full;
  }
}

/** Top-level concern of a file under src/ ('' for files directly in src/). */
function concernOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
}

function importsOf(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  const out: { spec: string; typeOnly: boolean }[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) out.push({ spec: m[3]!, typeOnly: Boolean(m[2]) });
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, typeOnly: false });
  return out;
}

/** Which concerns each concern may import at run time (type-only imports are free). */
const LEAVES = new Set(['config', 'errors', 'logger', 'version']);
const ALLOWED: Record<string, Set<string>> = {
  http: new Set(['*']),
  server: new Set(['*']),
  main: new Set(['*']),
  cli: new Set(['*']),
  logging: new Set([]),
  process: new Set([]),
  registry: new Set(['workers', 'archive', 'store', 'groups', 'metrics', 'auth']),
  groups: new Set(['store', 'auth']),
  auth: new Set([]),
  metrics: new Set([]),
  workers: new Set(['handlers', 'metrics']),
  handlers: new Set(['workers']),
  archive: new Set([]),
  store: new Set(['config']),
};

test('imports point one way (http -> services -> engine)', () => {
  const problems: string[] = [];
  for (const file of tsFiles(SRC)) {
    const from = concernOf(file);
    for (const { spec, typeOnly } of importsOf(file)) {
      const rel = path.relative(REPO_ROOT, file);
      if (!spec.startsWith('.')) {
        if ((spec === 'fastify' || spec.startsWith('@fastify/')) && !['http', 'server', 'main'].includes(from) && !typeOnly) {
          problems.push(`${rel} imports ${spec} (only src/http may)`);
        }
        continue;
      }
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
      if (!target.startsWith(SRC)) continue;
      const to = concernOf(target);
      if (to === from || LEAVES.has(to) || typeOnly) continue;
      const allowed = ALLOWED[from];
      if (allowed === undefined) {
        problems.push(`${rel}: concern "${from}" has no entry in the dependency table`);
      } else if (!allowed.has('*') && !allowed.has(to)) {
        problems.push(`${rel} imports ${spec} ("${from}" may not depend on "${to}")`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
