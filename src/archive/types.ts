/**
 * Contract of the archive module (issue #4): open a model location (.mar zip, .tar.gz, directory),
 * validate it, extract it safely into a private directory, and describe what it holds.
 */

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
  close(): Promise<void>;
}
