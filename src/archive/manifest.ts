/**
 * MAR-INF/MANIFEST.json validation (spec §9.2, messages from §3.4 InvalidModelException).
 */
import { InvalidModelError } from '../errors.js';
import type { Manifest } from './types.js';

export const MANIFEST_PATH = 'MAR-INF/MANIFEST.json';

/** Runtimes TorchServe's archiver writes (spec §9.3); all mean "the server's own runtime" here. */
export const RUNTIMES = ['python', 'python3', 'LSP'] as const;

export const DEFAULT_MODEL_VERSION = '1.0';

const OPTIONAL_MODEL_STRINGS = [
  'serializedFile',
  'handler',
  'modelFile',
  'configFile',
  'requirementsFile',
  'extensions',
  'envelope',
  'description',
] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a parsed manifest and fills TorchServe's defaults (runtime `python`, modelVersion
 * `1.0`). Returns a new object; unknown fields are kept. Throws InvalidModelError naming the field.
 */
export function parseManifest(json: unknown): Manifest {
  if (!isObject(json)) throw new InvalidModelError(`${MANIFEST_PATH} must hold a JSON object.`);
  if (!isObject(json.model)) throw new InvalidModelError('Missing Model entry in manifest file.');
  const model: Record<string, unknown> = { ...json.model };

  if (typeof model.modelName !== 'string' || model.modelName.trim() === '') {
    throw new InvalidModelError('Model name is not defined.');
  }

  if (model.modelVersion === undefined || model.modelVersion === null) {
    model.modelVersion = DEFAULT_MODEL_VERSION;
  } else if (typeof model.modelVersion === 'number' && Number.isFinite(model.modelVersion)) {
    model.modelVersion = String(model.modelVersion);
  } else if (typeof model.modelVersion !== 'string' || model.modelVersion.trim() === '') {
    throw new InvalidModelError('Model version is not defined.');
  }

  for (const field of OPTIONAL_MODEL_STRINGS) {
    const value = model[field];
    if (value === undefined) continue;
    if (value === null) {
      delete model[field];
    } else if (typeof value !== 'string') {
      throw new InvalidModelError(`Manifest field model.${field} must be a string.`);
    }
  }

  let runtime = json.runtime;
  if (runtime === undefined || runtime === null) runtime = 'python';
  if (typeof runtime !== 'string' || !(RUNTIMES as readonly string[]).includes(runtime)) {
    throw new InvalidModelError('Runtime is not defined or invalid.');
  }

  return { ...json, runtime, model } as Manifest;
}
