/**
 * Contract of the archive module (issue #4): open a model location (.mar zip, .tar.gz, directory),
 * validate it, extract it safely into a private directory, and describe what it holds.
 */
import type { Logger } from '../logger.js';

/** MAR-INF/MANIFEST.json as TorchServe's archiver writes it (spec §9.2), plus fields we read. */
export type Manifest = {
  createdOn?: string;
  runtime: string;
  description?: string;
  archiverVersion?: string;
  model: {
    modelName: string;
    modelVersion: string;
    serializedFile?: string;
    handler?: string;
    modelFile?: string;
    configFile?: string;
    requirementsFile?: string;
    extensions?: string;
    envelope?: string;
    description?: string;
  };
  [extra: string]: unknown;
};

export type ArchiveLimits = {
  maxEntries: number;
  maxUncompressedBytes: number;
};

/** A model location opened and extracted. `close()` removes the private directory (idempotent). */
export interface OpenedModel {
  /** Private extraction directory (or, for a registered directory, a private copy of it). */
  readonly dir: string;
  readonly manifest: Manifest;
  /** Absolute path of the ONNX file (manifest serializedFile), checked to be inside `dir`. */
  readonly serializedFile: string;
  /** Parsed model_config.yaml / model-config.yaml (manifest configFile), {} when none. */
  readonly modelYamlConfig: Record<string, unknown>;
  /** SHA-256 hex of the archive file (for a directory: of its sorted file list and contents). */
  readonly sha256: string;
  /** The handler to serve with (manifest `handler`, defaulting to the tensor handler). */
  readonly handler: ResolvedHandler;
  close(): Promise<void>;
}

/** Handlers tsserve provides itself (the `handler` manifest value names them). */
export type BuiltinHandlerName = 'tensor' | 'image_classifier';

/** What a manifest `handler` value means here (see classifyHandler). */
export type HandlerRef =
  | { kind: 'builtin'; name: BuiltinHandlerName }
  /** A JavaScript module (.js/.mjs); `file` as written in the manifest (relative to the archive root). */
  | { kind: 'js'; file: string }
  /** A Python handler (file or a TorchServe built-in we do not provide): cannot run here. */
  | { kind: 'python'; name: string };

/** The handler an opened model will be served with; a JS handler's `file` is absolute, inside `dir`. */
export type ResolvedHandler = { kind: 'builtin'; name: BuiltinHandlerName } | { kind: 'js'; file: string };

export type OpenModelOptions = {
  /** Model store directory: `location` must resolve inside it. */
  modelStore: string;
  /** Parent of the private extraction directories (created 0700 if missing). */
  workRoot: string;
  limits: ArchiveLimits;
  log: Logger;
  /**
   * Registration overrides applied to the manifest before validation (spec §6.2 step 9):
   * `modelName` (register `model_name`) wins over the manifest; `fallbackModelName` (startup
   * loading: derived from the file name) is used only when the manifest has none; `handler`
   * (register `handler`) wins; `defaultHandler` (config default_service_handler) applies when
   * the manifest names none.
   */
  overrides?: { modelName?: string; fallbackModelName?: string; handler?: string; defaultHandler?: string };
};
