/**
 * What every inference route shares: the dependencies, model resolution with access control, the
 * hand-off to the engine (with the spec §10.2 metrics) and how answers are written.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config/schema.js';
import { ModelNotFoundError, TsServeError } from '../../errors.js';
import type { MetricsSink } from '../../metrics/types.js';
import type { ModelEntry, ModelLookup } from '../../registry/types.js';
import type { InferenceRequest, InferenceResponse } from '../../workers/types.js';
import { NO_PRINCIPAL, type Principal } from '../../auth/principal.js';
import { requireModelPermission, type ModelAction } from '../../groups/users.js';

/** The slice of the groups service the inference API needs (issue #7). */
export interface ModelAccess {
  /** May `principal` use models of `groupId`? False must look exactly like a missing model. */
  canAccessModel(principal: Principal, groupId: string | undefined): Promise<boolean>;
}

/** Options of the inference plugin. `HttpDeps` (src/http/deps.ts) satisfies it. */
export type InferenceApiDeps = {
  config: Pick<Config, 'openInferenceProtocol' | 'maxRequestSizeBytes'>;
  registry: ModelLookup;
  /** Absent in tools and tests that do not use model groups: every model is then accessible. */
  groups?: ModelAccess | undefined;
  metrics: MetricsSink;
};

/** The caller, as set by the auth hook (src/http auth plugin); `none` when no hook ran. */
export function principalOf(request: FastifyRequest): Principal {
  return (request as FastifyRequest & { principal?: Principal }).principal ?? NO_PRINCIPAL;
}

export function canAccess(deps: InferenceApiDeps, request: FastifyRequest, entry: ModelEntry): Promise<boolean> | boolean {
  return deps.groups === undefined ? true : deps.groups.canAccessModel(principalOf(request), entry.groupId);
}

/**
 * The entry for `name` (and `version`, or the default version), as the caller may see it: a model
 * the caller may not access answers exactly like a missing one (no existence leak), including when
 * the requested version does not exist.
 * First, before any lookup, an internal user's ML role must allow `action` (issue #7: 403
 * AccessDeniedException; `ml_readonly_access` may describe but not predict).
 * Throws ModelNotFoundError / ModelVersionNotFoundError (TorchServe's 404s, spec §8.2).
 */
export async function resolveModel(
  deps: InferenceApiDeps,
  request: FastifyRequest,
  name: string,
  version: string | undefined,
  action: Extract<ModelAction, 'predict' | 'describe'>,
): Promise<ModelEntry> {
  requireModelPermission(principalOf(request), action);
  let entry: ModelEntry;
  try {
    entry = deps.registry.get(name, version);
  } catch (err) {
    if (err instanceof TsServeError && err.code === 'MODEL_VERSION_NOT_FOUND' && deps.groups !== undefined) {
      // The model exists but not this version: only say so to callers who may see the model.
      const visible = await anyVersionAccessible(deps, request, name);
      if (!visible) throw new ModelNotFoundError(name);
    }
    throw err;
  }
  if (deps.groups !== undefined && !(await canAccess(deps, request, entry))) throw new ModelNotFoundError(name);
  return entry;
}

/** Names of the models the caller may see (their default version is accessible), sorted. */
export async function accessibleModelNames(deps: InferenceApiDeps, request: FastifyRequest): Promise<string[]> {
  requireModelPermission(principalOf(request), 'list');
  const out: string[] = [];
  for (const name of deps.registry.names()) {
    let entry: ModelEntry;
    try {
      entry = deps.registry.get(name);
    } catch {
      continue; // unregistered meanwhile
    }
    if (await canAccess(deps, request, entry)) out.push(name);
  }
  return out;
}

async function anyVersionAccessible(deps: InferenceApiDeps, request: FastifyRequest, name: string): Promise<boolean> {
  let entries: ModelEntry[];
  try {
    entries = deps.registry.versions(name);
  } catch {
    return false;
  }
  for (const e of entries) if (await canAccess(deps, request, e)) return true;
  return false;
}

/**
 * Queue `req` on the entry's runtime and write its answer. Counts the request before queueing
 * (`ts_inference_requests_total`, even if it is then rejected with 503) and, on success, its
 * latency and queue time (spec §10.2). `versionLabel` is the URL version or "default".
 */
export async function runInference(
  ctx: InferenceContext,
  reply: FastifyReply,
  entry: ModelEntry,
  versionLabel: string,
  req: InferenceRequest,
): Promise<FastifyReply> {
  const { metrics } = ctx.deps;
  metrics.inferenceRequest(entry.name, versionLabel);
  let queueMicros = 0;
  const res = await entry.runtime.submit(req, {
    onDequeue: (us) => {
      queueMicros = us;
    },
  });
  metrics.inferenceDone(entry.name, versionLabel, Math.round(reply.elapsedTime * 1000), queueMicros);
  return sendInferenceResponse(ctx, reply, res);
}

/** What a request on an inference route does: OPTIONS reads the model's API description. */
export function inferenceAction(request: FastifyRequest): 'predict' | 'describe' {
  return request.method === 'OPTIONS' ? 'describe' : 'predict';
}

/** Per-plugin state shared by the route modules. */
export type InferenceContext = {
  readonly deps: InferenceApiDeps;
  /**
   * Replies that must go out without a Content-Type: TorchServe sends none unless the handler set
   * one (spec §8.3, §13 #19), while Fastify labels every Buffer application/octet-stream.
   * `dropContentType` (an onSend hook on the inference routes) removes it again.
   */
  readonly noContentType: WeakSet<FastifyReply>;
};

export function createInferenceContext(deps: InferenceApiDeps): InferenceContext {
  return { deps, noContentType: new WeakSet() };
}

/** Route-level onSend hook that honours `InferenceContext.noContentType`. */
export function dropContentType(ctx: InferenceContext) {
  return (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void => {
    if (ctx.noContentType.has(reply)) reply.removeHeader('content-type');
    done(null, payload);
  };
}

/** Writes the engine's answer: its status, headers and content type; the bytes are not copied. */
export function sendInferenceResponse(ctx: InferenceContext, reply: FastifyReply, res: InferenceResponse): FastifyReply {
  reply.code(res.status);
  if (res.headers !== undefined) {
    for (const name of Object.keys(res.headers)) reply.header(name, res.headers[name]);
  }
  if (res.contentType !== undefined) reply.header('content-type', res.contentType);
  else if (reply.getHeader('content-type') === undefined) ctx.noContentType.add(reply);
  return reply.send(asBuffer(res.body));
}

/** A Buffer view of the bytes (no copy), unless they live in shared memory Fastify cannot send. */
export function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes.buffer instanceof ArrayBuffer) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Buffer.from(bytes);
}
