/**
 * Opens a model location from the model store (spec §6.2 steps 3, 6-9): a `.mar` zip, a gzip'd tar,
 * or a directory (`no-archive`). Everything is extracted or copied into a private directory
 * `<workRoot>/<32 hex>` (mode 0700), validated, and described. A rejected location leaves nothing
 * behind; an accepted one keeps its directory until `close()`.
 *
 *   location ─► resolve inside model store ─► extract / copy (guard: names, links, counts, bytes)
 *            ─► pick model root ─► manifest (+ overrides) ─► serialized file (ONNX) ─► handler
 *            ─► model config YAML ─► sha256 ─► OpenedModel
 */
import { randomBytes } from 'node:crypto';
import { open, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArchiveError, InvalidModelError, ModelLocationError } from '../errors.js';
import { checkOnnxFile } from './check-onnx.js';
import { classifyHandler, pythonHandlerError } from './classify-handler.js';
import { copyDirectory } from './copy-directory.js';
import { extractTar } from './extract-tar.js';
import { extractZip } from './extract-zip.js';
import { ExtractionGuard, printable, safeRelativePath } from './extraction-guard.js';
import { sha256Directory, sha256File } from './hash.js';
import { MANIFEST_PATH, parseManifest } from './manifest.js';
import { findModelConfigFile, readModelConfig } from './model-config.js';
import type { Manifest, OpenedModel, OpenModelOptions, ResolvedHandler } from './types.js';

export type ModelLocation = { path: string; kind: 'file' | 'directory' };

/**
 * Resolves a location (relative to the model store, or absolute inside it) to an existing file or
 * directory. Throws ModelLocationError (404) with TorchServe's messages (spec §3.4, §6.2).
 */
export async function resolveModelLocation(location: string, modelStore: string): Promise<ModelLocation> {
  if (location === '') throw new ModelLocationError('empty url');
  if (location.includes('..')) throw new ModelLocationError(`Relative path is not allowed in url: ${location}`);
  const store = path.resolve(modelStore);
  const full = path.resolve(store, location);
  const rel = path.relative(store, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ModelLocationError(`Model not found at: ${location}`);
  }
  const info = await stat(full).catch(() => undefined);
  if (info?.isFile()) return { path: full, kind: 'file' };
  if (info?.isDirectory()) return { path: full, kind: 'directory' };
  throw new ModelLocationError(`Model not found at: ${location}`);
}

type ArchiveFormat = 'zip' | 'tar';

/** By content, not by name: zip magic, gzip magic or a ustar header. */
async function sniffFormat(file: string): Promise<ArchiveFormat> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(262);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return 'zip';
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar';
    if (bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  } finally {
    await handle.close();
  }
  throw new InvalidArchiveError(
    `Model file "${printable(path.basename(file))}" is neither a zip (.mar) nor a gzip'd tar archive.`,
  );
}

/** A tree whose root holds no MAR-INF but exactly one directory is that directory (spec §6.2 step 7). */
async function pickModelRoot(dir: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.some((e) => e.name === 'MAR-INF')) return dir;
  const only = entries[0];
  if (entries.length === 1 && only !== undefined && only.isDirectory()) return path.join(dir, only.name);
  return dir;
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

async function readManifestJson(root: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path.join(root, ...MANIFEST_PATH.split('/')), 'utf8');
  } catch {
    throw new InvalidArchiveError(`Missing ${MANIFEST_PATH} in the model archive.`);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new InvalidArchiveError(`Failed to parse ${MANIFEST_PATH}: ${(err as Error).message}`);
  }
}

/** Applies register / startup overrides to the raw manifest before validation (spec §6.2 step 9). */
function applyOverrides(raw: unknown, overrides: OpenModelOptions['overrides']): unknown {
  if (overrides === undefined || typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const json = raw as Record<string, unknown>;
  const model = json.model;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) return raw;
  const m: Record<string, unknown> = { ...(model as Record<string, unknown>) };
  const blank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
  if (overrides.modelName) m.modelName = overrides.modelName;
  else if (overrides.fallbackModelName && blank(m.modelName)) m.modelName = overrides.fallbackModelName;
  if (overrides.handler) m.handler = overrides.handler;
  else if (overrides.defaultHandler && blank(m.handler)) m.handler = overrides.defaultHandler;
  return { ...json, model: m };
}

/** A manifest-named path, checked to stay inside the model root. */
function resolveInside(root: string, name: string, field: string): string {
  let rel: string;
  try {
    rel = safeRelativePath(name);
  } catch {
    rel = '';
  }
  if (rel === '') {
    throw new InvalidModelError(`Manifest field model.${field} must be a relative path inside the archive, got "${printable(name)}".`);
  }
  return path.join(root, ...rel.split('/'));
}

export async function openModel(location: string, opts: OpenModelOptions): Promise<OpenedModel> {
  const where = await resolveModelLocation(location, opts.modelStore);
  const workRoot = path.resolve(opts.workRoot);
  await mkdir(workRoot, { recursive: true, mode: 0o700 });
  const privateDir = path.join(workRoot, randomBytes(16).toString('hex'));
  await mkdir(privateDir, { mode: 0o700 });
  const log = opts.log.child({ location });
  try {
    const guard = new ExtractionGuard(privateDir, opts.limits);
    let sha256: string;
    if (where.kind === 'file') {
      const format = await sniffFormat(where.path);
      if (format === 'zip') await extractZip(where.path, guard);
      else await extractTar(where.path, guard);
      sha256 = await sha256File(where.path);
    } else {
      await copyDirectory(where.path, guard);
      sha256 = '';
    }
    const dir = await pickModelRoot(privateDir);
    if (where.kind === 'directory') sha256 = await sha256Directory(dir);

    const manifest: Manifest = parseManifest(applyOverrides(await readManifestJson(dir), opts.overrides));

    const serializedName = manifest.model.serializedFile;
    if (serializedName === undefined || serializedName.trim() === '') {
      throw new InvalidModelError('Serialized file is not defined (manifest field model.serializedFile); tsserve serves ONNX models.');
    }
    const serializedFile = resolveInside(dir, serializedName, 'serializedFile');
    if (!(await isFile(serializedFile))) {
      throw new InvalidArchiveError(`Serialized file "${printable(serializedName)}" named in the manifest is missing from the archive.`);
    }
    await checkOnnxFile(serializedFile, dir);

    const handler = await resolveHandler(dir, manifest.model.handler);

    const config = await findModelConfigFile(dir, manifest, (name) => resolveInside(dir, name, 'configFile'));
    const modelYamlConfig = config === undefined ? {} : await readModelConfig(config.file, config.name);

    log.debug(
      { dir, model: manifest.model.modelName, version: manifest.model.modelVersion, entries: guard.entryCount, bytes: guard.writtenBytes },
      'model archive opened',
    );
    let closing: Promise<void> | undefined;
    return {
      dir,
      manifest,
      serializedFile,
      modelYamlConfig,
      sha256,
      handler,
      close(): Promise<void> {
        closing ??= rm(privateDir, { recursive: true, force: true }).then(
          () => log.debug({ dir: privateDir }, 'model directory removed'),
        );
        return closing;
      },
    };
  } catch (err) {
    await rm(privateDir, { recursive: true, force: true });
    throw err;
  }
}

async function resolveHandler(dir: string, value: string | undefined): Promise<ResolvedHandler> {
  const ref = classifyHandler(value);
  if (ref.kind === 'builtin') return ref;
  if (ref.kind === 'python') throw pythonHandlerError(ref.name);
  const file = resolveInside(dir, ref.file, 'handler');
  if (!(await isFile(file))) {
    throw new InvalidArchiveError(`Handler file "${printable(ref.file)}" named in the manifest is missing from the archive.`);
  }
  return { kind: 'js', file };
}
