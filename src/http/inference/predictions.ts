/**
 * TorchServe's own inference routes (spec §3.2, §8.2, §8.3):
 *   /predictions/{model}[/{version}[/{extra...}]]   any method but OPTIONS: inference
 *   /explanations/{model}[/{version}[/{extra...}]]  same, with header explain: True
 *   OPTIONS on either                               per-model OpenAPI document
 *   /{model}/predict, /{model}/{version}/predict    legacy; query parameters reach the handler
 *   /invocations?model_name=, /models/{model}/invoke  SageMaker style
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { sendJson } from '../common.js';
import { ERROR_SCHEMA, type OpenApiOperationDoc } from '../openapi.js';
import { MissingParameterError, ResourceNotFoundError } from '../../errors.js';
import type { InferenceRequest } from '../../workers/types.js';
import { requireModelPermission } from '../../groups/users.js';
import type { ModelEntry } from '../../registry/types.js';
import { canAccess, dropContentType, inferenceAction, principalOf, resolveModel, runInference, type InferenceContext } from './context.js';
import { handlerHeaders, queryParams, readParams } from './request-params.js';

/** TorchServe runs inference on any method; OPTIONS answers the model's OpenAPI instead. */
export const INFERENCE_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
/** Registered apart from POST so that the API description lists POST only, as TorchServe's. */
export const OTHER_INFERENCE_METHODS: HTTPMethods[] = INFERENCE_METHODS.filter((m) => m !== 'POST');

type PredictionParams = { model_name: string; model_version?: string; '*'?: string };

const BINARY = { schema: { type: 'string', format: 'binary' } };

/** TorchServe's description of a predictions operation (OpenApiUtils.getPredictionsPath). */
export function predictionsDoc(operationId: string, summary: string): OpenApiOperationDoc {
  return {
    operationId,
    summary,
    requestBody: { description: 'Input data format is defined by each model.', required: true, content: { '*/*': BINARY } },
    responses: {
      '200': { description: 'Output data format is defined by each model.', schema: BINARY.schema, contentType: '*/*' },
      '404': { description: 'Model not found or Model Version not found', schema: ERROR_SCHEMA },
      '500': { description: 'Internal Server Error', schema: ERROR_SCHEMA },
      '503': { description: 'No worker is available to serve request', schema: ERROR_SCHEMA },
    },
  };
}

/** Route config read by the API description (openapi.ts): the operation's doc, or false to hide it. */
export function routeDoc(doc: OpenApiOperationDoc | false): FastifyContextConfig {
  return { openapi: doc } as unknown as FastifyContextConfig;
}

/**
 * Registers `handler` on `url` for every inference method: POST with `doc` in the API description
 * (or hidden when `doc` is false), the other methods hidden.
 */
export function inferenceRoute<P>(
  app: FastifyInstance,
  ctx: InferenceContext,
  url: string,
  doc: OpenApiOperationDoc | false,
  handler: (request: FastifyRequest<{ Params: P }>, reply: FastifyReply) => Promise<FastifyReply>,
): void {
  const onSend = dropContentType(ctx);
  app.route<{ Params: P }>({ method: 'POST', url, onSend, config: routeDoc(doc), handler });
  app.route<{ Params: P }>({ method: OTHER_INFERENCE_METHODS, url, onSend, config: routeDoc(false), handler });
}

export function predictionRoutes(app: FastifyInstance, ctx: InferenceContext): void {
  for (const [prefix, explain] of [['/predictions', false], ['/explanations', true]] as const) {
    const handler = (request: FastifyRequest<{ Params: PredictionParams }>, reply: FastifyReply) =>
      predictions(ctx, request, reply, explain);
    const what = explain ? 'Explanations' : 'Predictions';
    const id = explain ? 'explanations' : 'predictions';
    inferenceRoute(app, ctx, `${prefix}/:model_name`, predictionsDoc(id, `${what} entry point to get inference using default model version.`), handler);
    inferenceRoute(app, ctx, `${prefix}/:model_name/:model_version`, predictionsDoc(`version_${id}`, `${what} entry point to get inference using specific model version.`), handler);
    inferenceRoute(app, ctx, `${prefix}/:model_name/:model_version/*`, false, handler);
  }

  const legacy = (request: FastifyRequest<{ Params: { model_name: string; model_version?: string } }>, reply: FastifyReply) =>
    legacyPredict(ctx, request, reply);
  inferenceRoute(app, ctx, '/:model_name/predict', false, legacy);
  inferenceRoute(app, ctx, '/:model_name/:model_version/predict', false, legacy);

  inferenceRoute(app, ctx, '/invocations', false, (request, reply) => invocations(ctx, request, reply, undefined));
  inferenceRoute<{ model_name: string }>(app, ctx, '/models/:model_name/invoke', false, (request, reply) =>
    invocations(ctx, request, reply, request.params.model_name),
  );
}

/** An empty path segment (`/predictions/m/`) means "not given", as Java's split drops it (spec §3.1). */
function segment(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** `url_path`: the segments after the version joined by "/" (trailing empty ones dropped), or "". */
function urlPathOf(extra: string | undefined): string {
  if (extra === undefined) return '';
  let end = extra.length;
  while (end > 0 && extra.charCodeAt(end - 1) === 47 /* / */) end--;
  return extra.slice(0, end);
}

async function predictions(
  ctx: InferenceContext,
  request: FastifyRequest<{ Params: PredictionParams }>,
  reply: FastifyReply,
  explain: boolean,
): Promise<FastifyReply> {
  const name = segment(request.params.model_name);
  if (name === undefined) throw new ResourceNotFoundError();
  const version = segment(request.params.model_version);
  const entry = await resolveModel(ctx.deps, request, name, version, inferenceAction(request));
  if (request.method === 'OPTIONS') return sendJson(reply, 200, modelOpenApi(name));
  const req: InferenceRequest = {
    id: request.id,
    protocol: 'ts',
    explain,
    headers: handlerHeaders(request, { explain: explain ? 'True' : 'False', url_path: urlPathOf(request.params['*']) }),
    params: await readParams(request, ctx.deps.config.maxRequestSizeBytes),
  };
  return runInference(ctx, reply, entry, version ?? 'default', req);
}

/** Names TorchServe routes elsewhere: `/models/x/predict` is a 4-segment /models path (404). */
const NOT_LEGACY_MODEL_NAMES = new Set(['models', 'invocations', 'predictions', 'explanations']);

async function legacyPredict(
  ctx: InferenceContext,
  request: FastifyRequest<{ Params: { model_name: string; model_version?: string } }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const name = request.params.model_name;
  if (NOT_LEGACY_MODEL_NAMES.has(name)) throw new ResourceNotFoundError();
  const version = segment(request.params.model_version);
  const entry = await resolveModel(ctx.deps, request, name, version, inferenceAction(request));
  if (request.method === 'OPTIONS') return sendJson(reply, 200, modelOpenApi(name));
  const req: InferenceRequest = {
    id: request.id,
    protocol: 'ts',
    explain: false,
    headers: handlerHeaders(request, {}),
    params: await readParams(request, ctx.deps.config.maxRequestSizeBytes, queryParams(request.url)),
  };
  return runInference(ctx, reply, entry, version ?? 'default', req);
}

/**
 * SageMaker-style routes. Without a name in the path: `model_name` from the query string, else the
 * only model loaded at startup, else a `model_name` form field, else 400 (spec §3.2).
 */
async function invocations(
  ctx: InferenceContext,
  request: FastifyRequest,
  reply: FastifyReply,
  pathName: string | undefined,
): Promise<FastifyReply> {
  // Before the body is read or a name is looked for (resolveModel checks again, cheaply).
  requireModelPermission(principalOf(request), inferenceAction(request));
  const query = queryParams(request.url);
  let name = pathName ?? paramText(query, 'model_name');
  if (name === undefined || name === '') {
    const startup = startupModels(ctx);
    // A model the caller may not see is not chosen for them: its name would leak in the 404.
    if (startup.length === 1 && (await canAccess(ctx.deps, request, startup[0]!))) name = startup[0]!.name;
  }
  const params = await readParams(request, ctx.deps.config.maxRequestSizeBytes, query);
  if (name === undefined || name === '') name = paramText(params, 'model_name');
  if (name === undefined || name === '') throw new MissingParameterError('model_name');
  const entry = await resolveModel(ctx.deps, request, name, undefined, inferenceAction(request));
  if (request.method === 'OPTIONS') return sendJson(reply, 200, modelOpenApi(name));
  const req: InferenceRequest = { id: request.id, protocol: 'ts', explain: false, headers: handlerHeaders(request, {}), params };
  return runInference(ctx, reply, entry, 'default', req);
}

function paramText(params: { name: string; value: Uint8Array }[], name: string): string | undefined {
  const p = params.find((x) => x.name === name);
  return p === undefined ? undefined : Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength).toString('utf8');
}

/** Default versions of the models loaded at startup. */
function startupModels(ctx: InferenceContext): ModelEntry[] {
  const { registry } = ctx.deps;
  const out: ModelEntry[] = [];
  for (const name of registry.names()) {
    try {
      if (registry.versions(name).some((e) => e.loadedAtStartup)) out.push(registry.get(name));
    } catch {
      // unregistered meanwhile
    }
  }
  return out;
}

/**
 * TorchServe's per-model OpenAPI document (OpenApiUtils.getModelApi). TorchServe lists
 * `/prediction/<model>` (singular, a typo); we list the real path (docs/compatibility.md).
 */
export function modelOpenApi(name: string): unknown {
  const path = {
    post: {
      description: `A predict entry point for model: ${name}.`,
      operationId: name,
      responses: {
        '200': { description: 'OK' },
        '500': { description: 'Internal Server Error', content: { 'application/json': { schema: ERROR_SCHEMA } } },
      },
    },
  };
  return {
    openapi: '3.0.1',
    info: { title: `RESTful API for: ${name}`, version: '1.0.0' },
    paths: {
      [`/predictions/${name}`]: path,
      '/v1/models/{model_name}:predict': path,
      '/v2/models/{model_name}/infer': path,
    },
  };
}
