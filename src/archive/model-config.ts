/**
 * The archive's model-config YAML (spec §9.4): the manifest's `configFile`, else `model_config.yaml`
 * or `model-config.yaml` at the archive root. TorchServe logs and ignores an unparsable file; we
 * refuse the archive instead, naming the file (docs/compatibility.md).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { InvalidArchiveError } from '../errors.js';
import { printable } from './extraction-guard.js';
import type { Manifest } from './types.js';

export const DEFAULT_CONFIG_FILES = ['model_config.yaml', 'model-config.yaml'];

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

/** Finds the config file: `{ name, file }` (name relative to `dir`), or undefined when there is none. */
export async function findModelConfigFile(
  dir: string,
  manifest: Manifest,
  resolveInside: (name: string, what: string) => string,
): Promise<{ name: string; file: string } | undefined> {
  const named = manifest.model.configFile;
  if (named !== undefined && named !== '') {
    const file = resolveInside(named, 'Config file');
    if (!(await isFile(file))) {
      throw new InvalidArchiveError(`Config file "${printable(named)}" named in the manifest is missing from the archive.`);
    }
    return { name: named, file };
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const file = path.join(dir, name);
    if (await isFile(file)) return { name, file };
  }
  return undefined;
}

/** Parses a model config YAML text; `{}` for an empty file. Throws InvalidArchiveError naming the file. */
export function parseModelConfig(text: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new InvalidArchiveError(`Cannot parse model config file "${printable(name)}": ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArchiveError(`Model config file "${printable(name)}" must be a YAML mapping of keys to values.`);
  }
  return value as Record<string, unknown>;
}

export async function readModelConfig(file: string, name: string): Promise<Record<string, unknown>> {
  return parseModelConfig(await readFile(file, 'utf8'), name);
}
