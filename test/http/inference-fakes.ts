/**
 * Fakes for the inference API tests: a registry (ModelLookup), runtimes that record what they are
 * given, a groups service, a metrics sink, and the server's own listener app (raw-body parser,
 * multipart, error handler, 404/405) with a test principal hook and the API description.
 */
import type { FastifyInstance } from 'fastify';
import { NO_PRINCIPAL, type Principal } from '../../src/auth/principal.js';
import { makeConfig } from '../../src/config/load.js';
import { ModelNotFoundError, ModelVersionNotFoundError } from '../../src/errors.js';
import { decoratePrincipal } from '../../src/http/auth-hook.js';
import { createListenerApp } from '../../src/http/common.js';
import { installApiDescription, type OpenApiDocument } from '../../src/http/openapi.js';
import { silentLogger } from '../../src/logger.js';
import { inferenceApi, type InferenceApiDeps, type ModelAccess } from '../../src/http/inference.js';
import type { MetricsSink } from '../../src/metrics/types.js';
import type { ModelEntry, ModelLookup } from '../../src/registry/types.js';
import type {
  InferenceRequest,
  InferenceResponse,
  ModelIO,
  ModelRuntime,
  ModelSpec,
  ScaleResult,
  WorkerState,
  WorkerStatus,
} from '../../src/workers/types.js';

export const ADD_IO: ModelIO = {
  inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 4] }],
};

type Respond = (req: InferenceRequest) => InferenceResponse | Promise<InferenceResponse>;

export class FakeRuntime implements ModelRuntime {
  readonly spec: ModelSpec;
  readonly io: ModelIO;
  readonly submitted: InferenceRequest[] = [];
  healthy = true;
  workerStates: WorkerState[] = ['READY'];
  queueMicros = 1234;
  respond: Respond = () => ({ status: 200, contentType: 'application/json', body: Buffer.from('[1,2]') });

  constructor(name: string, version: string, io: ModelIO = ADD_IO) {
    this.spec = { name, version, minWorkers: 1, maxWorkers: 1 } as ModelSpec;
    this.io = io;
  }

  async submit(req: InferenceRequest, opts?: { onDequeue?: (queueMicros: number) => void }): Promise<InferenceResponse> {
    this.submitted.push(structuredClone(req));
    const res = await this.respond(req);
    opts?.onDequeue?.(this.queueMicros);
    return res;
  }

  async scale(): Promise<ScaleResult> {
    return { ready: 1, complete: true };
  }

  workers(): WorkerStatus[] {
    return this.workerStates.map((state, i) => ({ id: String(9000 + i), startTime: new Date(0), state, memoryUsage: 0, restarts: 0 }));
  }

  queueStatus() {
    return { remainingCapacity: 100, pendingRequests: 0 };
  }

  isHealthy(): boolean {
    return this.healthy;
  }

  async close(): Promise<void> {}
}

export type FakeModelOptions = { groupId?: string; loadedAtStartup?: boolean; io?: ModelIO; isDefault?: boolean };

export class FakeRegistry implements ModelLookup {
  private readonly models = new Map<string, { versions: ModelEntry[]; defaultVersion: string }>();

  add(name: string, version: string, opts: FakeModelOptions = {}): FakeRuntime {
    const runtime = new FakeRuntime(name, version, opts.io);
    const entry: ModelEntry = {
      name,
      version,
      url: `${name}.mar`,
      sha256: '0'.repeat(64),
      loadedAtStartup: opts.loadedAtStartup ?? true,
      spec: runtime.spec,
      runtime,
      groupId: opts.groupId,
      registeredAt: new Date(0),
    };
    const m = this.models.get(name);
    if (m === undefined) this.models.set(name, { versions: [entry], defaultVersion: version });
    else {
      m.versions.push(entry);
      if (opts.isDefault) m.defaultVersion = version;
    }
    return runtime;
  }

  get(name: string, version?: string): ModelEntry {
    const m = this.models.get(name);
    if (m === undefined) throw new ModelNotFoundError(name);
    const v = version ?? m.defaultVersion;
    const e = m.versions.find((x) => x.version === v);
    if (e === undefined) throw new ModelVersionNotFoundError(name, v);
    return e;
  }

  versions(name: string): ModelEntry[] {
    const m = this.models.get(name);
    if (m === undefined) throw new ModelNotFoundError(name);
    return [...m.versions];
  }

  isDefault(entry: ModelEntry): boolean {
    return this.models.get(entry.name)?.defaultVersion === entry.version;
  }

  names(): string[] {
    return [...this.models.keys()].sort();
  }
}

/** Groups service: a principal named in `allowed[groupId]` (or any principal for no group) may access. */
export class FakeGroups implements ModelAccess {
  readonly allowed = new Map<string, Set<string>>();
  calls = 0;

  async canAccessModel(principal: Principal, groupId: string | undefined): Promise<boolean> {
    this.calls++;
    if (groupId === undefined) return true;
    if (principal.kind === 'none') return true;
    return this.allowed.get(groupId)?.has(principal.name) ?? false;
  }
}

export type MetricsCall = [string, ...unknown[]];

export function recordingMetrics(): MetricsSink & { calls: MetricsCall[] } {
  const calls: MetricsCall[] = [];
  const rec = (name: string) => (...args: unknown[]) => {
    calls.push([name, ...args]);
  };
  return {
    calls,
    httpResponse: rec('httpResponse'),
    inferenceRequest: rec('inferenceRequest'),
    inferenceDone: rec('inferenceDone'),
    batchRun: rec('batchRun'),
    queueDepth: rec('queueDepth'),
    workerRestart: rec('workerRestart'),
    workerLoaded: rec('workerLoaded'),
    authFailure: rec('authFailure'),
  };
}

export type Harness = {
  app: FastifyInstance;
  registry: FakeRegistry;
  groups: FakeGroups;
  metrics: ReturnType<typeof recordingMetrics>;
  apiDescription: () => OpenApiDocument;
};

/**
 * An inference listener with fakes. Test principal: header `x-test-user: <name>` makes the caller
 * the internal user <name> (roles from `x-test-roles`, default ml_full_access); without it the
 * caller has no identity (auth off).
 */
export async function buildHarness(
  opts: { openInferenceProtocol?: boolean; withGroups?: boolean; maxRequestSizeBytes?: number } = {},
  setup?: (registry: FakeRegistry) => void,
): Promise<Harness> {
  const registry = new FakeRegistry();
  setup?.(registry);
  const groups = new FakeGroups();
  const metrics = recordingMetrics();
  const config = makeConfig({
    ts_open_inference_protocol: String(opts.openInferenceProtocol ?? true),
    max_request_size: String(opts.maxRequestSizeBytes ?? 6553500),
  });
  const app = createListenerApp({ name: 'inference', config, log: silentLogger(), accessLog: silentLogger() });
  decoratePrincipal(app);
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-test-user'];
    // `x-test-roles: a,b` sets the user's roles (default ml_full_access; empty = no ML role).
    const rolesHeader = request.headers['x-test-roles'];
    const roles = typeof rolesHeader === 'string' ? rolesHeader.split(',').filter((r) => r !== '') : ['ml_full_access'];
    request.principal = typeof user === 'string' ? { kind: 'user', name: user, backendRoles: [], roles } : NO_PRINCIPAL;
  });
  const apiDescription = installApiDescription(app, { title: 'TorchServe APIs' });

  const deps: InferenceApiDeps = {
    config,
    registry,
    groups: opts.withGroups === false ? undefined : groups,
    metrics,
  };
  await app.register(inferenceApi, deps);
  await app.ready();
  return { app, registry, groups, metrics, apiDescription };
}

/** A multipart/form-data body with the given parts, in order. */
export function multipartBody(
  boundary: string,
  parts: { name: string; value: string | Buffer; filename?: string; contentType?: string }[],
): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.contentType !== undefined) head += `Content-Type: ${p.contentType}\r\n`;
    chunks.push(Buffer.from(head + '\r\n'), Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}
