/**
 * `tsserve-archiver`: torch-model-archiver's flags (spec §9.3) for ONNX models.
 * Exit codes: 0 written (or help), 2 bad input (nothing written), 1 unexpected failure.
 */
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isTsServeError } from '../errors.js';
import { RUNTIMES } from '../archive/manifest.js';
import {
  ARCHIVE_FORMATS,
  type ArchiveFormat,
  ArchiverInputError,
  writeArchive,
} from '../archive/write-archive.js';

export type ArchiverIo = {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Default --export-path. */
  cwd: string;
};

type Flags = {
  modelName: string;
  version: string;
  serializedFile: string;
  handler?: string;
  extraFiles?: string;
  exportPath?: string;
  archiveFormat: ArchiveFormat;
  force?: boolean;
  configFile?: string;
  runtime: string;
  requirementsFile?: string;
};

function buildProgram(io: ArchiverIo): Command {
  return new Command('tsserve-archiver')
    .description('Package an ONNX model into a model archive (.mar) that tsserve and TorchServe-style tools load.')
    .requiredOption('--model-name <name>', 'model name (must match ^[A-Za-z0-9][A-Za-z0-9_\\-.]*$); also the archive file name')
    .requiredOption('-v, --version <version>', 'model version (manifest modelVersion)')
    .requiredOption('--serialized-file <file>', 'the ONNX model file')
    .option('--handler <handler>', 'built-in handler (tensor, image_classifier, base_handler) or a .js/.mjs handler file; default: tensor')
    .option('--extra-files <files>', 'comma-separated files or directories to include (a directory\'s contents go to the archive root)')
    .option('--export-path <dir>', 'where to write the archive (created if missing; default: current directory)')
    .addOption(
      new Option('--archive-format <format>', 'default (zip), zip-store (zip, no compression), tgz (.tar.gz), no-archive (directory)')
        .choices(ARCHIVE_FORMATS)
        .default('default'),
    )
    .option('-f, --force', 'overwrite an existing archive')
    .option('-c, --config-file <file>', 'model config YAML (minWorkers, maxWorkers, batchSize, maxBatchDelay, ...)')
    .addOption(new Option('--runtime <runtime>', 'manifest runtime, kept for TorchServe compatibility').choices(RUNTIMES).default('python'))
    .option('-r, --requirements-file <file>', 'stored in the archive for TorchServe compatibility (tsserve installs nothing)')
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Runs the archiver on `argv` (without node and script). Returns the exit code. */
export async function runArchiver(argv: string[], io: ArchiverIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const flags = program.opts<Flags>();
  const exportPath = path.resolve(io.cwd, flags.exportPath ?? '.');
  try {
    const result = await writeArchive({
      checkLoadable: loadWithOnnxRuntime,
      modelName: flags.modelName,
      version: flags.version,
      serializedFile: path.resolve(io.cwd, flags.serializedFile),
      handler: flags.handler === undefined ? undefined : resolveHandlerArg(flags.handler, io.cwd),
      extraFiles: splitList(flags.extraFiles).map((f) => path.resolve(io.cwd, f)),
      exportPath,
      archiveFormat: flags.archiveFormat,
      force: flags.force ?? false,
      configFile: flags.configFile === undefined ? undefined : path.resolve(io.cwd, flags.configFile),
      requirementsFile: flags.requirementsFile === undefined ? undefined : path.resolve(io.cwd, flags.requirementsFile),
      runtime: flags.runtime,
    });
    if (result.createdExportPath) io.stderr.write(`Export path ${exportPath} did not exist; created it.\n`);
    io.stdout.write(`Model archive written to ${result.path}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ArchiverInputError || isTsServeError(err)) {
      io.stderr.write(`${err.message}\n`);
      return 2;
    }
    io.stderr.write(`tsserve-archiver: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

/** The archiver is a command-line program: loading the model in-process here blocks nobody. */
async function loadWithOnnxRuntime(file: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  await session.release();
}

/** A handler that looks like a file is resolved against cwd; a built-in name stays as it is. */
function resolveHandlerArg(handler: string, cwd: string): string {
  return /[\\/]|\.[A-Za-z0-9]+$/.test(handler) ? path.resolve(cwd, handler) : handler;
}
