/**
 * The model registry (issue #6, spec §6, §7, §11): model names, their versions and default version,
 * and the operations of the management API. Every change to one model name (register, scale,
 * unregister, set-default) runs under that name's lock, and each either completes or leaves the
 * registry, the engine, the disk and the model groups as they were.
 *
 *   register:  resolve url ─► open/extract ─► [lock name] reserve group ─► 409? ─► settings
 *              ─► engine.create ─► (sync) start workers ─► commit group ─► insert ─► snapshot
 *              any failure: close runtime, release group, remove extraction, delete download
 *   unregister: [lock name] 403 if default with others ─► remove ─► drain + stop workers
 *              ─► remove files ─► tell groups ─► snapshot
 */
import type { Dirent } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openModel } from '../archive/open-model.js';
import type { OpenedModel } from '../archive/types.js';
import { NO_PRINCIPAL, type Principal } from '../auth/principal.js';
import { parseLoadModels, type StartupModel } from '../config/load.js';
import type { Config } from '../config/schema.js';
import {
  BadRequestError,
  InvalidModelError,
  InvalidModelVersionError,
  InvalidParameterError,
  ModelNotFoundError,
  ModelVersionConflictError,
  ModelVersionNotFoundError,
  ServiceUnavailableError,
  WorkerStartError,
  isTsServeError,
} from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import type { MetricsSink } from '../metrics/types.js';
import { Snapshots, type SnapshotModels, type SnapshotType, type SnapshotWriter } from '../store/snapshots.js';
import { defaultWorkerLayout } from '../workers/thread-defaults.js';
import type { Engine, ModelRuntime, ModelSpec } from '../workers/types.js';
import { describeEntry, type DescribedModel } from './describe.js';
import { KeyedMutex } from './keyed-mutex.js';
import { deriveModelName, existsInStore, resolveLocation, type ResolvedLocation } from './location.js';
import type { GroupReservation, GroupsPort, OpenModelFn, WorkerLayoutFn } from './ports.js';
import { resolveSettings, type FixedSettings } from './settings.js';
import type { ModelEntry, ModelLookup } from './types.js';

/** Manifest `runtime` values TorchServe accepts (exact, case-sensitive; spec §7.2). */
export const RUNTIME_TYPES = ['python', 'python3', 'LSP'] as const;
export type RuntimeType = (typeof RUNTIME_TYPES)[number];

/** `POST /models` parameters, already validated and mapped to internal names by the HTTP layer. */
export type RegisterParams = {
  url: string;
  modelName?: string;
  handler?: string;
  runtime?: RuntimeType;
  batchSize?: number;
  maxBatchDelayMs?: number;
  initialWorkers?: number;
  /** Default true (spec §7.2: the code's default, not the docs'). */
  synchronous?: boolean;
  responseTimeoutSec?: number;
  startupTimeoutSec?: number;
  modelGroupId?: string;
  accessMode?: string;
  backendRoles?: string[];
  addAllBackendRoles?: boolean;
  description?: string;
};

/** Outcome of a change: `accepted` = answered before the work finished (HTTP 202). */
export type StatusResult = { accepted: boolean; message: string };
export type RegisterResult = StatusResult & { name: string; version: string; minWorkers: number };

export type ListResult = { nextPageToken?: string; models: { modelName: string; modelUrl: string }[] };

export type StartupResult = { loaded: { name: string; version: string }[]; failed: string[] };

export type RegistryOptions = {
  config: Config;
  log: Logger;
  engine: Engine;
  metrics: MetricsSink;
  /** Model groups (issue #7); absent = no groups, no access control. */
  groups?: GroupsPort;
  /** Archive opener; default archive/open-model.ts. */
  openModel?: OpenModelFn;
  /** Snapshot writer; default files in `{logDir}/config`. `false` or !config.snapshotsEnabled: none. */
  snapshots?: SnapshotWriter | false;
  /** Default workers / ORT threads; default workers/thread-defaults.ts `defaultWorkerLayout`. */
  workerLayout?: WorkerLayoutFn;
  /** Parent of the private extraction directories; default `<os tmpdir>/tsserve-models`. */
  workRoot?: string;
  /** URL downloads: overall and idle timeouts, redirects followed (each must match allowed_urls). */
  download?: { timeoutMs?: number; idleTimeoutMs?: number; maxRedirects?: number };
};

/** Snapshot restore cannot find an archive: the server must not start (spec §11). */
export class SnapshotRestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRestoreError';
  }
}

type VersionRecord = {
  entry: ModelEntry;
  opened: OpenedModel;
  location: ResolvedLocation;
  runtimeType: string;
};

type ModelRecord = {
  /** Insertion order = registration order. */
  versions: Map<string, VersionRecord>;
  defaultVersion: string;
};

type InternalRegister = RegisterParams & {
  startup: boolean;
  /** Snapshot restore: recorded settings, winning over every other source. */
  fixed?: FixedSettings;
  /** Snapshot restore: the model group the version was recorded in (re-attached, not re-counted). */
  restoreGroupId?: string;
};

const MAX_LIST_LIMIT = 100;

export class Registry implements ModelLookup {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly engine: Engine;
  private readonly groups: GroupsPort | undefined;
  private readonly openModelFn: OpenModelFn;
  private readonly snapshots: SnapshotWriter | undefined;
  private readonly workerLayout: WorkerLayoutFn;
  private readonly workRoot: string;
  private readonly download: { timeoutMs: number; idleTimeoutMs: number; maxRedirects: number };
  private readonly models = new Map<string, ModelRecord>();
  private readonly mutex = new KeyedMutex();
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: RegistryOptions) {
    this.config = opts.config;
    this.log = opts.log.child({ component: 'registry' });
    this.engine = opts.engine;
    this.groups = opts.groups;
    this.openModelFn = opts.openModel ?? openModel;
    this.workerLayout = opts.workerLayout ?? defaultWorkerLayout;
    this.workRoot = opts.workRoot ?? path.join(os.tmpdir(), 'tsserve-models');
    this.download = {
      timeoutMs: opts.download?.timeoutMs ?? 30 * 60_000,
      idleTimeoutMs: opts.download?.idleTimeoutMs ?? 60_000,
      maxRedirects: opts.download?.maxRedirects ?? 5,
    };
    if (opts.snapshots === false || !opts.config.snapshotsEnabled) this.snapshots = undefined;
    else this.snapshots = opts.snapshots ?? new Snapshots({ dir: path.join(opts.config.logDir, 'config'), properties: opts.config.properties, log: opts.log });
    this.groups?.setModelCounter((groupId) => this.countGroupVersions(groupId));
  }

  // ---- ModelLookup ----------------------------------------------------------------------------

  get(name: string, version?: string): ModelEntry {
    const model = this.models.get(name);
    if (!model) throw new ModelNotFoundError(name);
    const v = model.versions.get(version ?? model.defaultVersion);
    if (!v) throw new ModelVersionNotFoundError(name, version ?? model.defaultVersion);
    return v.entry;
  }

  versions(name: string): ModelEntry[] {
    const model = this.models.get(name);
    if (!model) throw new ModelNotFoundError(name);
    return [...model.versions.values()].map((v) => v.entry);
  }

  isDefault(entry: ModelEntry): boolean {
    return this.models.get(entry.name)?.defaultVersion === entry.version;
  }

  names(): string[] {
    return [...this.models.keys()].sort(compareCodeUnits);
  }

  // ---- management operations ------------------------------------------------------------------

  /** `POST /models` (spec §7.2). */
  register(params: RegisterParams, principal: Principal): Promise<RegisterResult> {
    return this.track(this.registerInternal({ ...params, startup: false }, principal));
  }

  /** `PUT /models/{name}[/{version}]` (spec §7.4). */
  scale(
    name: string,
    version: string | undefined,
    minWorkers: number,
    maxWorkers: number,
    synchronous: boolean,
    principal?: Principal,
  ): Promise<StatusResult> {
    return this.track(this.scaleInternal(name, version, minWorkers, maxWorkers, synchronous, principal));
  }

  /** `DELETE /models/{name}[/{version}]` (spec §7.5). */
  unregister(name: string, version?: string, principal?: Principal): Promise<StatusResult> {
    return this.track(
      this.mutex.run(name, async () => {
        const model = await this.visible(name, principal);
        const v = version === undefined ? model.versions.get(model.defaultVersion) : model.versions.get(version);
        if (!v) throw new ModelVersionNotFoundError(name, version ?? model.defaultVersion);
        if (v.entry.version === model.defaultVersion && model.versions.size > 1) throw new InvalidModelVersionError(name);
        await this.removeVersion(v, { deleteDownload: true });
        await this.writeSnapshot('snapshot');
        return { accepted: false, message: `Model "${name}" unregistered` };
      }),
    );
  }

  /** `PUT /models/{name}/{version}/set-default` (spec §7.6). */
  setDefault(name: string, version: string, principal?: Principal): Promise<StatusResult> {
    return this.track(
      this.mutex.run(name, async () => {
        const model = await this.visible(name, principal);
        if (!model.versions.has(version)) throw new ModelVersionNotFoundError(name, version, 'set-default');
        model.defaultVersion = version;
        this.log.info({ model: name, version }, 'default version set');
        await this.writeSnapshot('snapshot');
        return { accepted: false, message: `Default version successfully updated for model "${name}" to "${version}"` };
      }),
    );
  }

  /**
   * `GET /models` (spec §7.1): default versions sorted by name; `limit` > 100 or < 0 means 100, a
   * negative token 0; `nextPageToken` is present iff token + limit <= total (TorchServe's rule, kept
   * so clients' pagination loops behave the same). Models the principal may not access are left out.
   */
  async list(limit = MAX_LIST_LIMIT, nextPageToken = 0, principal?: Principal): Promise<ListResult> {
    const pageSize = limit > MAX_LIST_LIMIT || limit < 0 ? MAX_LIST_LIMIT : limit;
    const start = nextPageToken < 0 ? 0 : nextPageToken;
    const names: string[] = [];
    for (const name of this.names()) {
      if (await this.isVisible(name, principal)) names.push(name);
    }
    const models: ListResult['models'] = [];
    for (const name of names.slice(start, start + pageSize)) {
      const model = this.models.get(name);
      const v = model?.versions.get(model.defaultVersion);
      if (v) models.push({ modelName: name, modelUrl: v.entry.url });
    }
    if (start + pageSize <= names.length) return { nextPageToken: String(start + pageSize), models };
    return { models };
  }

  /** `GET /models/{name}[/{version}|/all]` (spec §7.3): always an array. */
  async describe(name: string, version: string | 'all' | undefined, principal?: Principal): Promise<DescribedModel[]> {
    const model = await this.visible(name, principal);
    if (version === 'all') return [...model.versions.values()].map((v) => describeEntry(v.entry, v.runtimeType));
    const v = model.versions.get(version ?? model.defaultVersion);
    if (!v) throw new ModelVersionNotFoundError(name, version ?? model.defaultVersion);
    return [describeEntry(v.entry, v.runtimeType)];
  }

  /** KServe v1 model ready on the management API (spec §7.7): ready = the default version has a worker. */
  async modelReady(name: string, principal?: Principal): Promise<{ name: string; ready: boolean }> {
    const model = await this.visible(name, principal);
    const v = model.versions.get(model.defaultVersion);
    return { name, ready: v !== undefined && v.entry.runtime.workers().length > 0 };
  }

  /** Throws the 404 a missing model gets when `name` does not exist or the principal may not see it. */
  async assertVisible(name: string, principal?: Principal): Promise<void> {
    await this.visible(name, principal);
  }

  // ---- startup, snapshots, shutdown -----------------------------------------------------------

  /**
   * Startup models (spec §6.3): restore `config.modelSnapshot` when present (§11; a missing archive
   * throws SnapshotRestoreError), else `load_models` (`all` or `[name=]location,...`). Workers start
   * in the background; a model that fails is logged and skipped.
   */
  async loadStartupModels(): Promise<StartupResult> {
    const result: StartupResult = { loaded: [], failed: [] };
    if (this.config.modelSnapshot !== undefined) {
      await this.restoreSnapshot(this.config.modelSnapshot, result);
      return result;
    }
    for (const { name, location } of await this.startupEntries()) {
      try {
        const r = await this.track(
          this.registerInternal({ url: location, modelName: name, synchronous: false, startup: true }, NO_PRINCIPAL),
        );
        result.loaded.push({ name: r.name, version: r.version });
      } catch (err) {
        result.failed.push(location);
        this.log.error({ err, location: redactUrl(location) }, `Failed to load model: ${redactUrl(location)}`);
      }
    }
    return result;
  }

  /**
   * Writes a snapshot of the registered models (spec §11): `startup` once the listeners are bound,
   * `shutdown` on graceful stop; the registry itself writes `snapshot` after each change.
   * Resolves with the file written, undefined when snapshots are off or the write failed (logged).
   */
  async writeSnapshot(type: SnapshotType): Promise<string | undefined> {
    if (!this.snapshots) return undefined;
    return this.snapshots.write(type, this.snapshotModels());
  }

  /**
   * Unregisters everything (non-default versions first, then defaults), draining requests and
   * removing extraction directories. Downloaded archives stay in the store so a restart can
   * restore them from the snapshot. New changes are refused from now on.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.pending]);
      await this.mutex.idle();
      for (const name of [...this.models.keys()]) {
        await this.mutex.run(name, async () => {
          const model = this.models.get(name);
          if (!model) return;
          const records = [...model.versions.values()];
          const ordered = [...records.filter((v) => v.entry.version !== model.defaultVersion), ...records.filter((v) => v.entry.version === model.defaultVersion)];
          for (const v of ordered) await this.removeVersion(v, { deleteDownload: false, shutdown: true });
        });
      }
      if (this.snapshots instanceof Snapshots) await this.snapshots.close();
    })();
    return this.closing;
  }

  // ---- internals ------------------------------------------------------------------------------

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const forget = () => this.pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  private assertOpen(): void {
    if (this.closed) throw new ServiceUnavailableError('The server is shutting down', 'SHUTTING_DOWN');
  }

  private async registerInternal(req: InternalRegister, principal: Principal): Promise<RegisterResult> {
    this.assertOpen();
    const location = await resolveLocation(req.url, {
      modelStore: this.config.modelStore,
      allowedUrls: this.config.allowedUrls,
      download: { maxBytes: this.config.maxDownloadSizeBytes, ...this.download },
    });
    let opened: OpenedModel | undefined;
    let owned = false;
    try {
      opened = await this.openModelFn(location.path, {
        modelStore: location.modelStore,
        workRoot: this.workRoot,
        limits: { maxEntries: this.config.maxArchiveEntries, maxUncompressedBytes: this.config.maxArchiveUncompressedSizeBytes },
        log: this.log,
        overrides: {
          ...(req.modelName ? { modelName: req.modelName } : {}),
          ...(req.startup ? { fallbackModelName: deriveModelName(req.url) } : {}),
          ...(req.handler ? { handler: req.handler } : {}),
          ...(this.config.defaultServiceHandler ? { defaultHandler: this.config.defaultServiceHandler } : {}),
        },
      });
      const name = req.modelName || opened.manifest.model?.modelName || (req.startup ? deriveModelName(req.url) : '');
      if (!name) throw new InvalidModelError('Model name is not defined.');
      const version = opened.manifest.model?.modelVersion || '1.0';
      const runtimeType = req.runtime ?? (typeof opened.manifest.runtime === 'string' && opened.manifest.runtime !== '' ? opened.manifest.runtime : 'python');
      const openedModel = opened;
      const result = await this.mutex.run(name, () => this.addVersion(req, principal, { name, version, runtimeType, opened: openedModel, location }));
      owned = true;
      return result;
    } finally {
      if (!owned) {
        await opened?.close().catch((err: unknown) => this.log.warn({ err }, 'extraction directory not removed'));
        if (location.downloaded) await unlink(location.path).catch(() => undefined);
      }
    }
  }

  private async addVersion(
    req: InternalRegister,
    principal: Principal,
    m: { name: string; version: string; runtimeType: string; opened: OpenedModel; location: ResolvedLocation },
  ): Promise<RegisterResult> {
    this.assertOpen();
    const { name, version, opened } = m;
    const log = this.log.child({ model: name, version });
    const existing = this.models.get(name);
    let reservation: GroupReservation | undefined;
    if (this.groups && req.restoreGroupId !== undefined) {
      const other = existing ? firstVersion(existing).entry.groupId : undefined;
      if (other !== undefined && other !== req.restoreGroupId) {
        throw new InvalidModelError(`Model ${name} version ${version} is recorded in model group ${req.restoreGroupId}, its other versions in ${other}.`);
      }
      reservation = await this.groups.restoreModelVersion(req.restoreGroupId);
    } else if (this.groups) {
      reservation = await this.groups.reserveModelVersion(principal, {
        modelName: name,
        ...(req.modelGroupId !== undefined ? { modelGroupId: req.modelGroupId } : {}),
        ...(existing ? optional('existingGroupId', firstVersion(existing).entry.groupId) : {}),
        ...(req.accessMode !== undefined ? { accessMode: req.accessMode } : {}),
        ...(req.backendRoles !== undefined ? { backendRoles: req.backendRoles } : {}),
        ...(req.addAllBackendRoles !== undefined ? { addAllBackendRoles: req.addAllBackendRoles } : {}),
        ...optional('description', req.description ?? opened.manifest.description ?? opened.manifest.model?.description),
      });
    }
    let runtime: ModelRuntime | undefined;
    try {
      if (existing?.versions.has(version)) throw new ModelVersionConflictError(name, version);
      const modelBytes = await stat(opened.serializedFile).then((s) => s.size, () => 0);
      const settings = resolveSettings({
        name,
        version,
        yaml: opened.modelYamlConfig ?? {},
        modelsJson: this.config.models,
        params: {
          ...optional('batchSize', req.batchSize),
          ...optional('maxBatchDelayMs', req.maxBatchDelayMs),
          ...optional('responseTimeoutSec', req.responseTimeoutSec),
          ...optional('startupTimeoutSec', req.startupTimeoutSec),
          ...optional('initialWorkers', req.initialWorkers),
        },
        ...(req.fixed ? { fixed: req.fixed } : {}),
        startup: req.startup,
        defaults: this.config,
        layout: this.workerLayout({ cpuCount: this.config.cpuCount, modelBytes }),
      });
      for (const w of settings.warnings) log.warn(w);
      const spec: ModelSpec = {
        name,
        version,
        modelDir: opened.dir,
        serializedFile: opened.serializedFile,
        handler: handlerOf(opened),
        manifest: { ...opened.manifest, runtime: m.runtimeType, model: { ...opened.manifest.model, modelName: name, modelVersion: version } },
        modelYamlConfig: opened.modelYamlConfig ?? {},
        batchSize: settings.batchSize,
        maxBatchDelayMs: settings.maxBatchDelayMs,
        responseTimeoutSec: settings.responseTimeoutSec,
        startupTimeoutSec: settings.startupTimeoutSec,
        jobQueueSize: settings.jobQueueSize,
        minWorkers: settings.minWorkers,
        maxWorkers: settings.maxWorkers,
        maxResponseSizeBytes: this.config.maxResponseSizeBytes,
        decodeInputRequest: this.config.decodeInputRequest,
        session: settings.session,
        ...(settings.warmup ? { warmup: settings.warmup } : {}),
      };
      runtime = await this.engine.create(spec);
      const synchronous = req.synchronous ?? !req.startup;
      if (spec.minWorkers > 0 && synchronous) {
        let complete = false;
        try {
          complete = (await runtime.scale(spec.minWorkers, spec.maxWorkers, true)).complete;
        } catch (err) {
          log.error({ err }, 'workers failed to start');
          throw new WorkerStartError(name, version, isTsServeError(err) && err.status >= 500 ? err.status : 500);
        }
        if (!complete) throw new WorkerStartError(name, version);
      }
      await reservation?.commit();
      const entry: ModelEntry = {
        name,
        version,
        url: req.url,
        sha256: opened.sha256,
        loadedAtStartup: req.startup,
        spec,
        runtime,
        groupId: reservation?.groupId,
        registeredAt: new Date(),
      };
      const record: VersionRecord = { entry, opened, location: m.location, runtimeType: m.runtimeType };
      if (existing) existing.versions.set(version, record);
      else this.models.set(name, { versions: new Map([[version, record]]), defaultVersion: version });
      log.info({ url: redactUrl(req.url), minWorkers: spec.minWorkers, maxWorkers: spec.maxWorkers, groupId: entry.groupId }, 'model registered');
      if (spec.minWorkers > 0 && !synchronous) {
        const started = runtime;
        started.scale(spec.minWorkers, spec.maxWorkers, false).catch((err: unknown) => log.error({ err }, 'workers failed to start'));
      }
      if (!req.startup) await this.writeSnapshot('snapshot');
      if (spec.minWorkers === 0) {
        return {
          name, version, minWorkers: 0, accepted: false,
          message: `Model "${name}" Version: ${version} registered with 0 initial workers. Use scale workers API to add workers for the model.`,
        };
      }
      if (!synchronous) return { name, version, minWorkers: spec.minWorkers, accepted: true, message: 'Processing worker updates...' };
      return {
        name, version, minWorkers: spec.minWorkers, accepted: false,
        message: `Model "${name}" Version: ${version} registered with ${spec.minWorkers} initial workers`,
      };
    } catch (err) {
      if (runtime) await runtime.close(0).catch((closeErr: unknown) => log.warn({ err: closeErr }, 'runtime not closed'));
      if (reservation) await Promise.resolve().then(() => reservation.release()).catch((relErr: unknown) => log.warn({ err: relErr }, 'group reservation not released'));
      throw err;
    }
  }

  private async scaleInternal(
    name: string,
    version: string | undefined,
    minWorkers: number,
    maxWorkers: number,
    synchronous: boolean,
    principal: Principal | undefined,
  ): Promise<StatusResult> {
    // Spec §7.4 order of checks: bounds first, then model, then version.
    if (!Number.isInteger(minWorkers) || minWorkers < 0) throw new InvalidParameterError('min_worker', 'must be an integer >= 0');
    if (!Number.isInteger(maxWorkers) || maxWorkers < 0) throw new InvalidParameterError('max_worker', 'must be an integer >= 0');
    if (maxWorkers < minWorkers) throw new BadRequestError('max_worker cannot be less than min_worker.');
    return this.mutex.run(name, async () => {
      const model = await this.visible(name, principal);
      const v = model.versions.get(version ?? model.defaultVersion);
      if (!v) throw new ModelVersionNotFoundError(name, version ?? model.defaultVersion);
      const log = this.log.child({ model: name, version: v.entry.version });
      v.entry = { ...v.entry, spec: { ...v.entry.spec, minWorkers, maxWorkers } };
      let complete: boolean;
      try {
        complete = (await v.entry.runtime.scale(minWorkers, maxWorkers, synchronous)).complete;
      } catch (err) {
        if (!synchronous) throw err;
        log.error({ err }, 'workers failed to scale');
        if (isTsServeError(err) && err.status < 500) throw err;
        throw new WorkerStartError(name, v.entry.version, isTsServeError(err) ? err.status : 500);
      } finally {
        await this.writeSnapshot('snapshot');
      }
      log.info({ minWorkers, maxWorkers, synchronous }, 'workers scaled');
      if (!synchronous) return { accepted: true, message: 'Processing worker updates...' };
      if (!complete) throw new WorkerStartError(name, v.entry.version);
      return {
        accepted: false,
        message: `Workers scaled to ${minWorkers} for model: ${name}` + (version !== undefined ? `, version: ${version}` : ''),
      };
    });
  }

  /** Removes a version from the maps, then drains and stops it and frees its files. Caller holds the lock. */
  private async removeVersion(v: VersionRecord, opts: { deleteDownload: boolean; shutdown?: boolean }): Promise<void> {
    const { name, version, groupId } = v.entry;
    const log = this.log.child({ model: name, version });
    const model = this.models.get(name);
    if (model) {
      model.versions.delete(version);
      if (model.versions.size === 0) this.models.delete(name);
    }
    try {
      await v.entry.runtime.close(this.config.unregisterModelTimeoutSec * 1000);
    } catch (err) {
      log.warn({ err }, 'workers did not stop cleanly');
    }
    await v.opened.close().catch((err: unknown) => log.warn({ err }, 'extraction directory not removed'));
    // Spec §6.2 step 10: an archive this server downloaded goes with its model (not at shutdown:
    // the snapshot still names it).
    if (opts.deleteDownload && v.location.downloaded) await unlink(v.location.path).catch(() => undefined);
    if (groupId !== undefined && !opts.shutdown && this.groups) {
      try {
        await this.groups.modelVersionRemoved(groupId, this.countGroupVersions(groupId));
      } catch (err) {
        log.warn({ err, groupId }, 'model group not updated');
      }
    }
    log.info(opts.shutdown ? 'model unloaded' : 'model unregistered');
  }

  private async visible(name: string, principal: Principal | undefined): Promise<ModelRecord> {
    const model = this.models.get(name);
    if (!model || !(await this.isVisible(name, principal))) throw new ModelNotFoundError(name);
    const now = this.models.get(name);
    if (!now) throw new ModelNotFoundError(name);
    return now;
  }

  /** Access control (issue #7): a model in a group the principal may not access does not exist for it. */
  private async isVisible(name: string, principal: Principal | undefined): Promise<boolean> {
    const model = this.models.get(name);
    if (!model) return false;
    if (!this.groups || principal === undefined) return true;
    const groupId = firstVersion(model).entry.groupId;
    if (groupId === undefined) return true;
    return this.groups.canAccessModel(principal, groupId);
  }

  private countGroupVersions(groupId: string): number {
    let n = 0;
    for (const model of this.models.values()) {
      for (const v of model.versions.values()) if (v.entry.groupId === groupId) n++;
    }
    return n;
  }

  private snapshotModels(): SnapshotModels {
    const out: SnapshotModels = {};
    for (const [name, model] of this.models) {
      const versions: SnapshotModels[string] = {};
      for (const [version, v] of model.versions) {
        const s = v.entry.spec;
        versions[version] = {
          defaultVersion: version === model.defaultVersion,
          marName: v.location.marName,
          minWorkers: s.minWorkers,
          maxWorkers: s.maxWorkers,
          batchSize: s.batchSize,
          maxBatchDelay: s.maxBatchDelayMs,
          responseTimeout: s.responseTimeoutSec,
          startupTimeout: s.startupTimeoutSec,
          runtimeType: v.runtimeType,
          ...optional('modelGroupId', v.entry.groupId),
        };
      }
      out[name] = versions;
    }
    return out;
  }

  /** `load_models`: `all` = every archive / directory in the store; else `[name=]location` entries. */
  private async startupEntries(): Promise<StartupModel[]> {
    const parsed = parseLoadModels(this.config.loadModels);
    if (parsed !== 'all') return parsed;
    const store = this.config.modelStore;
    if (!store) return [];
    let dirents: Dirent[];
    try {
      dirents = await readdir(store, { withFileTypes: true });
    } catch (err) {
      this.log.error({ err, modelStore: store }, 'model store not readable');
      return [];
    }
    const out: StartupModel[] = [];
    for (const d of dirents.sort((a, b) => compareCodeUnits(a.name, b.name))) {
      if (d.name.startsWith('.')) continue;
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) {
        const s = await stat(path.join(store, d.name)).catch(() => undefined);
        isDir = s?.isDirectory() ?? false;
        isFile = s?.isFile() ?? false;
      }
      if (isDir || (isFile && /\.(mar|model|tar\.gz)$/.test(d.name))) out.push({ name: undefined, location: d.name });
    }
    return out;
  }

  /** Spec §11 restore: every archive must exist (else the start fails), then each version is registered. */
  private async restoreSnapshot(snapshot: Readonly<Record<string, unknown>>, result: StartupResult): Promise<void> {
    const models = isRecord(snapshot.models) ? snapshot.models : {};
    const count = typeof snapshot.modelCount === 'number' ? snapshot.modelCount : Object.values(models).reduce<number>((n, v) => n + (isRecord(v) ? Object.keys(v).length : 0), 0);
    if (count <= 0 || Object.keys(models).length === 0) {
      this.log.info('Model snapshot is empty. Starting TorchServe without initial models.');
      return;
    }
    const todo: { name: string; version: string; rec: Record<string, unknown> }[] = [];
    for (const [name, versions] of Object.entries(models)) {
      if (!isRecord(versions)) continue;
      for (const [version, rec] of Object.entries(versions)) {
        const r = isRecord(rec) ? rec : {};
        const marName = typeof r.marName === 'string' ? r.marName : '';
        if (!this.config.modelStore || !(await existsInStore(this.config.modelStore, marName))) {
          throw new SnapshotRestoreError(`Model archive file for model :${name}, version :${version} not found in model store`);
        }
        todo.push({ name, version, rec: r });
      }
    }
    const defaults = new Map<string, string>();
    for (const { name, version, rec } of todo) {
      const marName = rec.marName as string;
      try {
        const runtime = typeof rec.runtimeType === 'string' && (RUNTIME_TYPES as readonly string[]).includes(rec.runtimeType) ? (rec.runtimeType as RuntimeType) : undefined;
        const r = await this.track(
          this.registerInternal(
            {
              url: marName,
              modelName: name,
              synchronous: false,
              startup: true,
              ...optional('runtime', runtime),
              // Re-attached to its recorded group without a new latest_version (model-groups.md §10.2:
              // numbers are handed out by registrations, and a restart is not one).
              ...optional('restoreGroupId', typeof rec.modelGroupId === 'string' ? rec.modelGroupId : undefined),
              fixed: {
                ...optional('batchSize', positiveInt(rec.batchSize)),
                ...optional('maxBatchDelayMs', nonNegativeInt(rec.maxBatchDelay)),
                ...optional('responseTimeoutSec', positiveInt(rec.responseTimeout)),
                ...optional('startupTimeoutSec', positiveInt(rec.startupTimeout)),
                ...optional('minWorkers', nonNegativeInt(rec.minWorkers)),
                ...optional('maxWorkers', nonNegativeInt(rec.maxWorkers)),
              },
            },
            NO_PRINCIPAL,
          ),
        );
        result.loaded.push({ name: r.name, version: r.version });
        if (rec.defaultVersion === true) defaults.set(name, version);
      } catch (err) {
        result.failed.push(marName);
        this.log.error({ err, model: name, version, marName }, `Failed to load model: ${marName}`);
      }
    }
    for (const [name, version] of defaults) {
      const model = this.models.get(name);
      if (model?.versions.has(version)) model.defaultVersion = version;
    }
  }
}

/** ModelSpec.handler: a built-in handler's name or a JS handler's absolute path (archive/types.ts). */
function handlerOf(opened: OpenedModel): string {
  const h = opened.handler as OpenedModel['handler'] | undefined;
  if (h?.kind === 'js') return h.file;
  if (h?.kind === 'builtin') return h.name;
  return 'tensor';
}

function firstVersion(model: ModelRecord): VersionRecord {
  return model.versions.get(model.defaultVersion) ?? [...model.versions.values()][0]!;
}

/** Java String#compareTo order (UTF-16 code units), as TorchServe sorts model names. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes-friendly spreads). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function nonNegativeInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
