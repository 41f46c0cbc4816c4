/**
 * Builds a model archive the way torch-model-archiver does (spec §9.1-§9.3), for the
 * `tsserve-archiver` CLI and the bundled-example script. Every input is checked before anything is
 * written; the output appears under its final name only once complete (temp name + rename).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type Stats } from 'node:fs';
import { cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yazl from 'yazl';
import { decodeOnnxModel, externalDataRefs } from './check-onnx.js';
import { classifyHandler, pythonHandlerError } from './classify-handler.js';
import { MANIFEST_PATH, RUNTIMES } from './manifest.js';
import { parseModelConfig } from './model-config.js';
import { packageVersion } from './package-version.js';

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_\-.]*$/;

export const ARCHIVE_FORMATS = ['default', 'zip-store', 'tgz', 'no-archive'] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

export type WriteArchiveOptions = {
  /**
   * Loads the serialized file with ONNX Runtime and throws with its message when it cannot
   * (the CLI passes one; the archive module itself never loads ONNX Runtime).
   */
  checkLoadable?: (file: string) => Promise<void>;
  modelName: string;
  version: string;
  /** The ONNX model file. */
  serializedFile: string;
  /** Built-in handler name (tensor, image_classifier, base_handler) or a .js/.mjs file. */
  handler?: string;
  /** Files and directories (a directory's contents go to the archive root, spec §9.1). */
  extraFiles?: string[];
  exportPath: string;
  archiveFormat?: ArchiveFormat;
  force?: boolean;
  configFile?: string;
  requirementsFile?: string;
  runtime?: string;
  /** Manifest `createdOn` (default: now). Fixed for reproducible archives. */
  createdOn?: Date;
  /** Modification time of every entry (default: now). Fixed for reproducible archives. */
  mtime?: Date;
};

export type WriteArchiveResult = { path: string; createdExportPath: boolean };

/** Bad archiver input: the CLI prints the message and exits 2. */
export class ArchiverInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiverInputError';
  }
}

/** Skipped when copying a directory given in --extra-files (spec §9.1). */
function isSkippedDirectory(name: string): boolean {
  return name === '__MACOSX' || name === '__pycache__' || name.startsWith('.');
}

/** `DD/MM/YYYY HH:MM:SS` in local time, as TorchServe's archiver writes `createdOn`. */
export function formatCreatedOn(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${p(date.getDate())}/${p(date.getMonth() + 1)}/${date.getFullYear()} ` +
    `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`
  );
}

export function outputPathFor(exportPath: string, modelName: string, format: ArchiveFormat): string {
  if (format === 'tgz') return path.join(exportPath, `${modelName}.tar.gz`);
  if (format === 'no-archive') return path.join(exportPath, modelName);
  return path.join(exportPath, `${modelName}.mar`);
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  return stat(file).catch(() => undefined);
}

async function requireFile(file: string): Promise<void> {
  if (!(await statOrUndefined(file))?.isFile()) throw new ArchiverInputError(`File does not exist: ${file}`);
}

/** Archive path (POSIX, relative to the root) → source file. */
type Plan = Map<string, string>;

function addToPlan(plan: Plan, archivePath: string, source: string): void {
  if (archivePath === 'MAR-INF' || archivePath.startsWith('MAR-INF/')) {
    throw new ArchiverInputError(`"${source}" would be stored under MAR-INF/, which is reserved for the manifest.`);
  }
  const before = plan.get(archivePath);
  if (before !== undefined && path.resolve(before) !== path.resolve(source)) {
    throw new ArchiverInputError(`Two files would be stored as "${archivePath}" in the archive: ${before} and ${source}.`);
  }
  plan.set(archivePath, source);
}

async function addDirectoryContents(plan: Plan, dir: string, rel: string): Promise<void> {
  const entries = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const entry of entries) {
    const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
    const full = path.join(dir, childRel);
    const info = await stat(full);
    if (info.isDirectory()) {
      if (!isSkippedDirectory(entry.name)) await addDirectoryContents(plan, dir, childRel);
    } else if (info.isFile()) {
      addToPlan(plan, childRel, full);
    }
  }
}

/** TorchServe's manifest, keys in its archiver's order (spec §9.2). */
function buildManifest(opts: WriteArchiveOptions, names: { serialized: string; handler?: string; config?: string; requirements?: string }): string {
  const model: Record<string, string> = { modelName: opts.modelName, serializedFile: names.serialized };
  if (names.handler !== undefined) model.handler = names.handler;
  model.modelVersion = opts.version;
  if (names.requirements !== undefined) model.requirementsFile = names.requirements;
  if (names.config !== undefined) model.configFile = names.config;
  const manifest = {
    createdOn: formatCreatedOn(opts.createdOn ?? new Date()),
    runtime: opts.runtime ?? 'python',
    model,
    archiverVersion: packageVersion(),
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Checks everything, then writes the archive. Throws ArchiverInputError (or InvalidArchiveError for a bad ONNX file). */
export async function writeArchive(opts: WriteArchiveOptions): Promise<WriteArchiveResult> {
  const format = opts.archiveFormat ?? 'default';
  if (!MODEL_NAME_PATTERN.test(opts.modelName)) {
    throw new ArchiverInputError(
      'Model name contains special characters.\n' +
        `The allowed regular expression filter for model name is: ${MODEL_NAME_PATTERN.source}`,
    );
  }
  if (opts.version.trim() === '') throw new ArchiverInputError('Model version must not be empty.');
  const runtime = opts.runtime ?? 'python';
  if (!(RUNTIMES as readonly string[]).includes(runtime)) {
    throw new ArchiverInputError(`Invalid runtime "${runtime}": expected one of ${RUNTIMES.join(', ')}.`);
  }
  if (!(ARCHIVE_FORMATS as readonly string[]).includes(format)) {
    throw new ArchiverInputError(`Invalid archive format "${format}": expected one of ${ARCHIVE_FORMATS.join(', ')}.`);
  }

  const exportInfo = await statOrUndefined(opts.exportPath);
  if (exportInfo !== undefined && !exportInfo.isDirectory()) {
    throw new ArchiverInputError(
      `Given export-path ${opts.exportPath} is not a directory. Point to a valid export-path directory.`,
    );
  }
  const output = outputPathFor(opts.exportPath, opts.modelName, format);
  if (!opts.force && (await statOrUndefined(output)) !== undefined) {
    throw new ArchiverInputError(
      `${output} already exists.\n` +
        'Please specify --force/-f option to overwrite the model archive output file.\n' +
        'See -h/--help for more details.',
    );
  }

  const plan: Plan = new Map();
  await requireFile(opts.serializedFile);
  const serialized = path.basename(opts.serializedFile);
  const model = decodeOnnxModel(await readFile(opts.serializedFile), serialized);
  if (opts.checkLoadable) {
    try {
      await opts.checkLoadable(opts.serializedFile);
    } catch (err) {
      throw new ArchiverInputError(`${serialized} is not loadable by ONNX Runtime: ${(err as Error).message}`);
    }
  }
  addToPlan(plan, serialized, opts.serializedFile);

  let handlerName: string | undefined;
  if (opts.handler !== undefined && opts.handler.trim() !== '') {
    const ref = classifyHandler(opts.handler);
    if (ref.kind === 'builtin') {
      handlerName = opts.handler.trim();
    } else if (ref.kind === 'js' && !opts.handler.includes(':')) {
      await requireFile(opts.handler);
      handlerName = path.basename(opts.handler);
      addToPlan(plan, handlerName, opts.handler);
    } else if (ref.kind === 'python') {
      throw pythonHandlerError(path.basename(ref.name));
    } else {
      throw new ArchiverInputError(
        `Handler "${opts.handler}" is not supported: give a built-in handler (tensor, image_classifier, base_handler) or a .js/.mjs file.`,
      );
    }
  }

  for (const extra of opts.extraFiles ?? []) {
    const info = await statOrUndefined(extra);
    if (info === undefined) throw new ArchiverInputError(`File does not exist: ${extra}`);
    if (info.isDirectory()) await addDirectoryContents(plan, extra, '');
    else addToPlan(plan, path.basename(extra), extra);
  }

  let requirementsName: string | undefined;
  if (opts.requirementsFile !== undefined) {
    await requireFile(opts.requirementsFile);
    requirementsName = path.basename(opts.requirementsFile);
    addToPlan(plan, requirementsName, opts.requirementsFile);
  }

  let configName: string | undefined;
  if (opts.configFile !== undefined) {
    await requireFile(opts.configFile);
    configName = path.basename(opts.configFile);
    try {
      parseModelConfig(await readFile(opts.configFile, 'utf8'), configName);
    } catch (err) {
      throw new ArchiverInputError((err as Error).message);
    }
    addToPlan(plan, configName, opts.configFile);
  }

  // External data is looked up next to the model at load time: it must travel in the archive.
  for (const ref of externalDataRefs(model)) {
    if (!plan.has(path.posix.normalize(ref.location))) {
      throw new ArchiverInputError(
        `External data "${ref.location}" of tensor "${ref.tensor}" is not among the archived files; add it with --extra-files.`,
      );
    }
  }

  const manifest = buildManifest({ ...opts, runtime }, {
    serialized,
    handler: handlerName,
    config: configName,
    requirements: requirementsName,
  });

  let createdExportPath = false;
  if (exportInfo === undefined) {
    await mkdir(opts.exportPath, { recursive: true });
    createdExportPath = true;
  }
  const mtime = opts.mtime ?? new Date();
  const temp = path.join(opts.exportPath, `.${opts.modelName}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (format === 'default' || format === 'zip-store') {
      await writeZip(temp, plan, manifest, mtime, format === 'default');
    } else {
      const staged = path.join(temp, opts.modelName);
      await stage(staged, plan, manifest);
      if (format === 'tgz') {
        await writeTgz(`${temp}.tar.gz`, temp, opts.modelName, plan, mtime);
        await rm(temp, { recursive: true, force: true });
        await replace(`${temp}.tar.gz`, output);
      } else {
        await replace(staged, output);
        await rm(temp, { recursive: true, force: true });
      }
      return { path: output, createdExportPath };
    }
    await replace(temp, output);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    await rm(`${temp}.tar.gz`, { force: true });
    throw err;
  }
  return { path: output, createdExportPath };
}

/** Entry order: the manifest, then files by archive path (stable bytes for the same inputs). */
function sortedPaths(plan: Plan): string[] {
  return [...plan.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function writeZip(file: string, plan: Plan, manifest: string, mtime: Date, compress: boolean): Promise<void> {
  const zip = new yazl.ZipFile();
  const options = { mtime, mode: 0o100644, compress };
  zip.addBuffer(Buffer.from(manifest), MANIFEST_PATH, options);
  for (const archivePath of sortedPaths(plan)) zip.addFile(plan.get(archivePath)!, archivePath, options);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file, { flags: 'wx', mode: 0o644 }));
}

async function stage(dir: string, plan: Plan, manifest: string): Promise<void> {
  await mkdir(path.join(dir, 'MAR-INF'), { recursive: true });
  await writeFile(path.join(dir, ...MANIFEST_PATH.split('/')), manifest);
  for (const archivePath of sortedPaths(plan)) {
    const target = path.join(dir, ...archivePath.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await cp(plan.get(archivePath)!, target, { dereference: true });
  }
}

/** Every entry prefixed `<model-name>/` (spec §9.1), listed explicitly so the order is stable. */
async function writeTgz(file: string, cwd: string, modelName: string, plan: Plan, mtime: Date): Promise<void> {
  const dirs = new Set<string>([modelName, `${modelName}/MAR-INF`]);
  const files = [`${modelName}/${MANIFEST_PATH}`];
  for (const archivePath of sortedPaths(plan)) {
    const parts = archivePath.split('/');
    for (let i = 1; i < parts.length; i += 1) dirs.add(`${modelName}/${parts.slice(0, i).join('/')}`);
    files.push(`${modelName}/${archivePath}`);
  }
  const entries = [...dirs, ...files].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  await tar.c({ file, cwd, gzip: true, portable: true, noDirRecurse: true, mtime }, entries);
}

/** Moves a finished temp file or directory onto its final name (--force already checked). */
async function replace(from: string, to: string): Promise<void> {
  const existing = await statOrUndefined(to);
  if (existing?.isDirectory()) await rm(to, { recursive: true, force: true });
  await rename(from, to);
}
