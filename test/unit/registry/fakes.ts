/**
 * Fakes for the registry tests: an engine whose runtimes record what they are asked (no ONNX
 * Runtime), a groups service, and a temp model store with a Registry around them. Archives are
 * real (.mar zips around the shared add.onnx, built by test/fixtures/archive-builder.ts) and are
 * opened by the real archive module.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Principal } from '../../../src/auth/principal.js';
import { makeConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/logger.js';
import { NOOP_METRICS } from '../../../src/metrics/types.js';
import type { GroupReservation, GroupsPort, ReserveModelVersionRequest } from '../../../src/registry/ports.js';
import { Registry, type RegistryOptions } from '../../../src/registry/registry.js';
import type {
  Engine,
  InferenceResponse,
  ModelIO,
  ModelRuntime,
  ModelSpec,
  ScaleResult,
  WorkerStatus,
} from '../../../src/workers/types.js';
import { buildMar, type ManifestSpec } from '../../fixtures/archive-builder.js';

export const ADD_IO: ModelIO = {
  inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 4] }],
};

let nextWorkerId = 9000;

export class FakeRuntime implements ModelRuntime {
  readonly spec: ModelSpec;
  readonly io: ModelIO = ADD_IO;
  readonly scaleCalls: { min: number; max: number; wait: boolean }[] = [];
  closedWith: number | undefined;
  private readonly engine: FakeEngine;
  private list: WorkerStatus[] = [];

  constructor(spec: ModelSpec, engine: FakeEngine) {
    this.spec = spec;
    this.engine = engine;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  async submit(): Promise<InferenceResponse> {
    return { status: 200, body: new Uint8Array() };
  }

  async scale(min: number, max: number, wait: boolean): Promise<ScaleResult> {
    this.scaleCalls.push({ min, max, wait });
    await this.engine.scaleGate;
    if (this.engine.failWorkersOf.has(this.spec.name)) {
      if (this.engine.failMode === 'reject') throw new Error('worker crashed while loading');
      return { ready: 0, complete: false };
    }
    while (this.list.length < min) {
      this.list.push({ id: String(nextWorkerId++), startTime: new Date(2025, 0, 2, 3, 4, 5, 6), state: 'READY', memoryUsage: 1024, restarts: 0 });
    }
    this.list.length = Math.min(this.list.length, Math.max(max, min));
    return { ready: this.list.length, complete: true };
  }

  workers(): WorkerStatus[] {
    return [...this.list];
  }

  queueStatus() {
    return { remainingCapacity: this.spec.jobQueueSize, pendingRequests: 0 };
  }

  isHealthy(): boolean {
    return this.list.length >= this.spec.minWorkers;
  }

  async close(timeoutMs: number): Promise<void> {
    this.closedWith = timeoutMs;
    this.list = [];
  }
}

export class FakeEngine implements Engine {
  readonly created: FakeRuntime[] = [];
  /** Model names whose workers fail to start. */
  readonly failWorkersOf = new Set<string>();
  failMode: 'incomplete' | 'reject' = 'incomplete';
  /** create() throws this, when set. */
  createError: Error | undefined;
  /** scale() waits for this promise (hold registrations in flight). */
  scaleGate: Promise<void> = Promise.resolve();

  async inspect(): Promise<ModelIO> {
    return ADD_IO;
  }

  async create(spec: ModelSpec): Promise<ModelRuntime> {
    if (this.createError) throw this.createError;
    const runtime = new FakeRuntime(spec, this);
    this.created.push(runtime);
    return runtime;
  }

  /** Runtimes not closed yet. */
  live(): FakeRuntime[] {
    return this.created.filter((r) => !r.closed);
  }

  async close(): Promise<void> {}
}

type Reservation = { req: ReserveModelVersionRequest; principal: Principal; groupId: string; committed: boolean; released: boolean };

/** Groups: a group per model name (or the given id); `user` principals are denied `denied` groups. */
export class FakeGroups implements GroupsPort {
  readonly reservations: Reservation[] = [];
  readonly removed: { groupId: string; remaining: number }[] = [];
  readonly denied = new Set<string>();
  counter: ((groupId: string) => number) | undefined;
  reserveError: Error | undefined;

  async reserveModelVersion(principal: Principal, req: ReserveModelVersionRequest): Promise<GroupReservation> {
    if (this.reserveError) throw this.reserveError;
    const groupId = req.existingGroupId ?? req.modelGroupId ?? `group-${req.modelName}`;
    const r: Reservation = { req, principal, groupId, committed: false, released: false };
    this.reservations.push(r);
    return {
      groupId,
      groupVersion: this.reservations.length,
      createdGroup: req.existingGroupId === undefined && req.modelGroupId === undefined,
      commit: async () => {
        r.committed = true;
      },
      release: async () => {
        r.released = true;
      },
    };
  }

  /** Groups restored into (snapshot restore); ids in `missing` do not exist. */
  readonly restored: string[] = [];
  readonly missing = new Set<string>();

  async restoreModelVersion(groupId: string): Promise<GroupReservation> {
    if (this.missing.has(groupId)) throw new Error(`no group ${groupId}`);
    this.restored.push(groupId);
    return { groupId, groupVersion: 0, createdGroup: false, commit: () => {}, release: () => {} };
  }

  async canAccessModel(principal: Principal, groupId: string): Promise<boolean> {
    return principal.kind !== 'user' || !this.denied.has(groupId);
  }

  async modelVersionRemoved(groupId: string, remaining: number): Promise<void> {
    this.removed.push({ groupId, remaining });
  }

  setModelCounter(fn: (groupId: string) => number): void {
    this.counter = fn;
  }
}

export const ADMIN: Principal = { kind: 'admin', via: 'management-key', name: 'admin', backendRoles: [], roles: ['all_access'] };
export const BOB: Principal = { kind: 'user', name: 'bob', backendRoles: ['hr'], roles: ['ml_full_access'] };

type TestContext = { after(fn: () => unknown): void };

export type Harness = {
  dir: string;
  store: string;
  workRoot: string;
  config: Config;
  engine: FakeEngine;
  registry: Registry;
  /** Writes a .mar around add.onnx into the store. */
  mar(file: string, spec?: ManifestSpec, extra?: Record<string, Buffer | string>): Promise<string>;
  /** Extraction directories still present. */
  extracted(): Promise<string[]>;
  snapshotFiles(): Promise<string[]>;
  /** A new Registry on the same store and config (e.g. after a restart). */
  newRegistry(config?: Config, extra?: Partial<RegistryOptions>): Registry;
};

/**
 * A temp dir with `store/`, a config (`model_store` set, `props` on top, cwd = the temp dir so
 * snapshots go to `<dir>/logs/config`), a FakeEngine and a Registry (closed after the test).
 */
export async function setup(t: TestContext, props: Record<string, string> = {}, extra: Partial<RegistryOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-registry-'));
  const store = path.join(dir, 'store');
  const workRoot = path.join(dir, 'work');
  await mkdir(store);
  const config = makeConfig({ model_store: store, ...props }, { cwd: dir });
  const engine = new FakeEngine();
  const registries: Registry[] = [];
  const newRegistry = (cfg: Config = config, more: Partial<RegistryOptions> = {}) => {
    const r = new Registry({
      config: cfg,
      log: silentLogger(),
      engine,
      metrics: NOOP_METRICS,
      workRoot,
      workerLayout: () => ({ workers: 1, intraOpNumThreads: 1 }),
      ...extra,
      ...more,
    });
    registries.push(r);
    return r;
  };
  const registry = newRegistry();
  t.after(async () => {
    for (const r of registries) await r.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    store,
    workRoot,
    config,
    engine,
    registry,
    newRegistry,
    async mar(file, spec = {}, more = {}) {
      const p = path.join(store, file);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, await buildMar(spec, more));
      return p;
    },
    async extracted() {
      return readdir(workRoot).catch(() => []);
    },
    async snapshotFiles() {
      return (await readdir(path.join(dir, 'logs', 'config')).catch(() => [] as string[])).sort();
    },
  };
}

/** Rejects with `err` when `p` settles later than `ms`. */
export async function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
