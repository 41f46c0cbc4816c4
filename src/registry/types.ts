/**
 * What the HTTP layers and the groups service read from the registry. The registry itself
 * (registry.ts) implements this plus the mutating operations (register, scale, unregister, ...).
 */
import type { ModelRuntime, ModelSpec } from '../workers/types.js';

export type ModelEntry = {
  readonly name: string;
  readonly version: string;
  /** The location exactly as registered (TorchServe's modelUrl). */
  readonly url: string;
  /** SHA-256 (hex) of the archive file or, for a directory, of its manifest + files (beyond TorchServe). */
  readonly sha256: string;
  readonly loadedAtStartup: boolean;
  readonly spec: ModelSpec;
  readonly runtime: ModelRuntime;
  /** Model group this version belongs to (issue #7), if any. */
  readonly groupId: string | undefined;
  readonly registeredAt: Date;
};

export interface ModelLookup {
  /**
   * The given version, or the default version when `version` is undefined.
   * Throws ModelNotFoundError / ModelVersionNotFoundError (TorchServe's 404s).
   */
  get(name: string, version?: string): ModelEntry;
  /** All versions of a model (throws ModelNotFoundError). */
  versions(name: string): ModelEntry[];
  /** Is `version` the default of `name`? */
  isDefault(entry: ModelEntry): boolean;
  /** Model names, sorted by code point (spec §7.1). */
  names(): string[];
}
