/**
 * TorchServe's management API (spec §5, §7; issue #6) on the management listener:
 *
 *   GET    /models                                   list (limit, next_page_token)
 *   POST   /models                                   register      (405 unless enable_model_api)
 *   GET    /models/{name}[/{version}|/all]           describe
 *   PUT    /models/{name}[/{version}]                scale workers
 *   DELETE /models/{name}[/{version}]                unregister    (405 unless enable_model_api)
 *   PUT    /models/{name}/{version}/set-default      set default version
 *   OPTIONS /models/{name}[/{version}]               per-model OpenAPI
 *   GET    /v1/models/{name}                         KServe v1 model ready
 *   other methods on these paths                     405
 *
 * Parameters come from the query string, or for register from a JSON body when Content-Type is
 * application/json. Each parameter is validated (zod) from one table that also feeds the OpenAPI
 * document; a bad value is a 400 naming the parameter (TorchServe silently used defaults).
 *
 * Internal users (HTTP Basic) need an ML role (issue #7): every route here first checks it
 * (`requireModelPermission`, 403 AccessDeniedException), then the registry hides models of groups
 * the caller may not access behind TorchServe's 404.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { z } from 'zod';
import { NO_PRINCIPAL, type Principal } from '../auth/principal.js';
import { BadRequestError, InvalidParameterError, MethodNotAllowedError, MissingParameterError } from '../errors.js';
import { requireModelPermission } from '../groups/users.js';
import { RUNTIME_TYPES, type RegisterParams, type RuntimeType } from '../registry/registry.js';
import { sendJson } from './common.js';
import type { HttpDeps } from './deps.js';
import {
  ERROR_SCHEMA,
  STATUS_SCHEMA,
  buildOpenApiDocument,
  type CollectedRoute,
  type JsonSchema,
  type OpenApiOperationDoc,
  type OpenApiParameter,
} from './openapi.js';

// ---- parameter tables ----------------------------------------------------------------------------

type ParamKind = 'integer' | 'string' | 'boolean' | 'string-list';

type ParamDef = {
  name: string;
  kind: ParamKind;
  description: string;
  required?: boolean;
  default?: unknown;
  min?: number;
  max?: number;
  enum?: readonly string[];
  /** Custom 400 for a value outside `enum` (TorchServe's own messages). */
  invalid?: (value: string) => Error;
};

/** Same bound as default_workers_per_model: a typo must not start thousands of threads. */
const MAX_WORKERS = 1024;

const REGISTER_PARAMS: readonly ParamDef[] = [
  { name: 'url', kind: 'string', required: true, description: 'Model archive or directory in the model store, or a URL matching allowed_urls.' },
  { name: 'model_name', kind: 'string', description: 'Name to register the model under (default: the manifest modelName).' },
  { name: 'handler', kind: 'string', description: 'Handler override (default: the manifest handler, or default_service_handler).' },
  {
    name: 'runtime', kind: 'string', enum: RUNTIME_TYPES, description: 'Runtime type: python, python3 or LSP (default: the manifest runtime).',
    invalid: (v) => new BadRequestError(`Invalid RuntimeType value: ${v}`),
  },
  { name: 'batch_size', kind: 'integer', min: 1, max: 1_000_000, description: 'Inference batch size (default: model config, models property, 1).' },
  { name: 'max_batch_delay', kind: 'integer', min: 0, max: 86_400_000, description: 'Longest wait for a batch to fill, in ms (default 100).' },
  { name: 'initial_workers', kind: 'integer', min: 0, max: MAX_WORKERS, description: 'Workers to start (default: model config, models property, default_workers_per_model, or chosen from the CPU count).' },
  { name: 'synchronous', kind: 'boolean', default: true, description: 'Answer once the workers are ready (only "true", any case, is true; absent = true).' },
  { name: 'response_timeout', kind: 'integer', min: 1, max: 86_400, description: 'Seconds a worker may take for one batch (default default_response_timeout).' },
  { name: 'startup_timeout', kind: 'integer', min: 1, max: 86_400, description: 'Seconds a worker may take to load the model (default default_startup_timeout).' },
  { name: 's3_sse_kms', kind: 'boolean', description: 'Accepted and ignored (no S3 support).' },
  { name: 'model_group_id', kind: 'string', description: 'Model group to register the version into (model access control).' },
  { name: 'access_mode', kind: 'string', description: 'Access mode of an auto-created model group: public, private or restricted.' },
  { name: 'backend_roles', kind: 'string-list', description: 'Backend roles of an auto-created restricted group (comma separated in a query string).' },
  { name: 'add_all_backend_roles', kind: 'boolean', description: 'Give an auto-created restricted group all of the caller\'s backend roles.' },
  { name: 'description', kind: 'string', description: 'Description of an auto-created model group.' },
];

const SCALE_PARAMS: readonly ParamDef[] = [
  { name: 'min_worker', kind: 'integer', min: 0, max: MAX_WORKERS, default: 1, description: 'Minimum number of workers.' },
  { name: 'max_worker', kind: 'integer', min: 0, max: MAX_WORKERS, description: 'Maximum number of workers (default min_worker).' },
  { name: 'synchronous', kind: 'boolean', default: false, description: 'Answer once the workers are scaled.' },
  { name: 'model_version', kind: 'string', description: 'Version to scale when the path names none.' },
  { name: 'timeout', kind: 'string', description: 'Accepted and ignored, as TorchServe does.' },
  { name: 'number_gpu', kind: 'string', description: 'Accepted and ignored (no GPU support).' },
];

const LIST_PARAMS: readonly ParamDef[] = [
  { name: 'limit', kind: 'integer', default: 100, description: 'Models per page; above 100 or below 0 means 100.' },
  { name: 'next_page_token', kind: 'integer', default: 0, description: 'Index of the first model of the page (a previous answer\'s nextPageToken).' },
];

const DESCRIBE_PARAMS: readonly ParamDef[] = [
  { name: 'customized', kind: 'boolean', description: 'Accepted and ignored: handlers here have no describe hook.' },
];

const DELETE_PARAMS: readonly ParamDef[] = [
  { name: 'synchronous', kind: 'boolean', description: 'Accepted and ignored, as TorchServe does.' },
  { name: 'timeout', kind: 'string', description: 'Accepted and ignored, as TorchServe does.' },
];

const NAME_PARAM: OpenApiParameter = { name: 'model_name', in: 'path', required: true, description: 'Name of the model.', schema: { type: 'string' } };
const VERSION_PARAM: OpenApiParameter = { name: 'model_version', in: 'path', required: true, description: 'Version of the model.', schema: { type: 'string' } };

const intText = z.string().trim().regex(/^[+-]?\d+$/).transform(Number);

function zodFor(def: ParamDef): z.ZodType<unknown> {
  switch (def.kind) {
    case 'integer': {
      let n = z.number().int();
      if (def.min !== undefined) n = n.min(def.min);
      if (def.max !== undefined) n = n.max(def.max);
      return z.union([z.number(), intText]).pipe(n);
    }
    case 'boolean':
      // Java Boolean.parseBoolean: only a case-insensitive "true" is true (spec §7.2).
      return z.union([z.boolean(), z.string().transform((s) => s.toLowerCase() === 'true')]);
    case 'string-list':
      return z.union([
        z.array(z.string()),
        z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== '')),
      ]);
    case 'string':
      return z.union([z.string(), z.number().transform(String)]);
  }
}

/**
 * Validates `raw` (query object or JSON body) against a table; returns the typed values of the
 * parameters present (repeated query parameters: the first wins, as in TorchServe).
 */
export function parseParams(defs: readonly ParamDef[], raw: unknown): Record<string, unknown> {
  const source = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const def of defs) {
    let value = source[def.name];
    if (Array.isArray(value) && def.kind !== 'string-list') value = value[0];
    if (value === undefined || value === null) {
      if (def.required) throw new MissingParameterError(def.name);
      continue;
    }
    const parsed = zodFor(def).safeParse(value);
    if (!parsed.success) throw new InvalidParameterError(def.name, describeIssue(def, parsed.error.issues[0]));
    if (def.enum && !def.enum.includes(parsed.data as string)) {
      throw def.invalid ? def.invalid(String(parsed.data)) : new InvalidParameterError(def.name, `must be one of ${def.enum.join(', ')}`);
    }
    out[def.name] = parsed.data;
  }
  return out;
}

function describeIssue(def: ParamDef, issue: z.core.$ZodIssue | undefined): string {
  if (def.kind === 'integer') {
    if (issue?.code === 'too_small') return `must be >= ${def.min}`;
    if (issue?.code === 'too_big') return `must be <= ${def.max}`;
    return 'must be an integer';
  }
  if (def.kind === 'boolean') return 'must be true or false';
  if (def.kind === 'string-list') return 'must be a list of strings';
  return 'must be a string';
}

function openApiParams(defs: readonly ParamDef[]): OpenApiParameter[] {
  return defs.map((def) => {
    const schema: JsonSchema =
      def.kind === 'string-list' ? { type: 'array', items: { type: 'string' } } : { type: def.kind };
    if (def.default !== undefined) schema.default = def.default;
    if (def.min !== undefined) schema.minimum = def.min;
    if (def.max !== undefined) schema.maximum = def.max;
    if (def.enum) schema.enum = [...def.enum];
    return { name: def.name, in: 'query', ...(def.required ? { required: true } : {}), description: def.description, schema };
  });
}

/** The register JSON body has the query parameters' names and types (spec §7.2). */
function jsonBodySchema(defs: readonly ParamDef[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const def of defs) {
    const type = def.kind === 'string-list' ? { type: 'array', items: { type: 'string' } } : { type: def.kind };
    properties[def.name] = { ...type, description: def.description };
  }
  return { type: 'object', required: defs.filter((d) => d.required).map((d) => d.name), properties };
}

// ---- response schemas (documentation) -------------------------------------------------------------

const LIST_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['models'],
  properties: {
    nextPageToken: { type: 'string', description: 'Token of the next page; present iff next_page_token + limit <= number of models.' },
    models: {
      type: 'array',
      items: { type: 'object', required: ['modelName', 'modelUrl'], properties: { modelName: { type: 'string' }, modelUrl: { type: 'string' } } },
    },
  },
};

const TENSOR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, dtype: { type: 'string' }, shape: { type: 'array', items: {} } },
};

const DESCRIBE_SCHEMA: JsonSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      modelName: { type: 'string' },
      modelVersion: { type: 'string' },
      modelUrl: { type: 'string' },
      runtime: { type: 'string' },
      minWorkers: { type: 'integer' },
      maxWorkers: { type: 'integer' },
      batchSize: { type: 'integer' },
      maxBatchDelay: { type: 'integer' },
      responseTimeout: { type: 'integer' },
      startupTimeout: { type: 'integer' },
      loadedAtStartup: { type: 'boolean' },
      workers: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            startTime: { type: 'string' },
            status: { type: 'string', enum: ['READY', 'UNLOADING'] },
            memoryUsage: { type: 'integer' },
            pid: { type: 'integer' },
            gpu: { type: 'boolean' },
            gpuUsage: { type: 'string' },
          },
        },
      },
      jobQueueStatus: { type: 'object', properties: { remainingCapacity: { type: 'integer' }, pendingRequests: { type: 'integer' } } },
      sha256: { type: 'string', description: 'SHA-256 of the model archive.' },
      inputs: { type: 'array', items: TENSOR_SCHEMA },
      outputs: { type: 'array', items: TENSOR_SCHEMA },
      modelGroupId: { type: 'string' },
    },
  },
};

const READY_SCHEMA: JsonSchema = { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } };

const err = (description: string) => ({ description, schema: ERROR_SCHEMA });

// ---- the plugin ------------------------------------------------------------------------------------

type Params = { model_name: string; model_version?: string };
type Req = FastifyRequest<{ Params: Params }>;

export async function managementApi(app: FastifyInstance, deps: Pick<HttpDeps, 'registry' | 'config'>): Promise<void> {
  const { registry, config } = deps;
  const routes: { options: RouteOptions; doc: OpenApiOperationDoc | false }[] = [];

  const add = (
    method: string | string[],
    url: string,
    doc: OpenApiOperationDoc | false,
    handler: (request: Req, reply: FastifyReply) => Promise<unknown>,
  ) => {
    const options = {
      method,
      url,
      exposeHeadRoute: false,
      config: { openapi: doc },
      handler: handler as RouteOptions['handler'],
    } as RouteOptions;
    routes.push({ options, doc });
    app.route(options);
  };

  /** Model API control (spec §5): register and unregister are 405 while enable_model_api is off. */
  const assertModelApiEnabled = () => {
    if (!config.enableModelApi) throw new MethodNotAllowedError();
  };

  // GET /models
  add('GET', '/models', {
    operationId: 'listModels',
    summary: 'List registered models.',
    parameters: openApiParams(LIST_PARAMS),
    responses: { '200': { description: 'OK', schema: LIST_SCHEMA }, '400': err('Bad parameter') },
  }, async (request, reply) => {
    requireModelPermission(principalOf(request), 'list');
    const q = parseParams(LIST_PARAMS, request.query);
    const list = await registry.list((q.limit as number | undefined) ?? 100, (q.next_page_token as number | undefined) ?? 0, principalOf(request));
    return sendJson(reply, 200, list);
  });

  // POST /models
  add('POST', '/models', {
    operationId: 'registerModel',
    summary: 'Register a new model.',
    parameters: openApiParams(REGISTER_PARAMS),
    requestBody: { required: false, description: 'With Content-Type application/json: the same parameters as a JSON object (the query string is then ignored).', content: { 'application/json': { schema: jsonBodySchema(REGISTER_PARAMS) } } },
    responses: {
      '200': { description: 'Registered', schema: STATUS_SCHEMA },
      '202': { description: 'Accepted; workers start in the background', schema: STATUS_SCHEMA },
      '400': err('Bad parameter, archive or download'),
      '404': err('Model location not found or not allowed'),
      '405': err('Model API disabled'),
      '409': err('Model version already registered'),
    },
  }, async (request, reply) => {
    requireModelPermission(principalOf(request), 'register');
    assertModelApiEnabled();
    const p = parseParams(REGISTER_PARAMS, registerSource(request));
    const result = await registry.register(toRegisterParams(p), principalOf(request));
    return sendJson(reply, result.accepted ? 202 : 200, { status: result.message });
  });

  const describeDoc = (operationId: string, withVersion: boolean): OpenApiOperationDoc => ({
    operationId,
    summary: withVersion ? 'Provides detailed information about the specified version of a model ("all" for every version).' : 'Provides detailed information about the default version of a model.',
    parameters: [NAME_PARAM, ...(withVersion ? [VERSION_PARAM] : []), ...openApiParams(DESCRIBE_PARAMS)],
    responses: { '200': { description: 'OK', schema: DESCRIBE_SCHEMA }, '404': err('Model or version not found') },
  });
  const scaleDoc = (operationId: string, withVersion: boolean): OpenApiOperationDoc => ({
    operationId,
    summary: withVersion ? 'Configure the number of workers of a model version.' : 'Configure the number of workers of the default version of a model.',
    parameters: [NAME_PARAM, ...(withVersion ? [VERSION_PARAM] : []), ...openApiParams(SCALE_PARAMS.filter((d) => !withVersion || d.name !== 'model_version'))],
    responses: {
      '200': { description: 'Scaled', schema: STATUS_SCHEMA },
      '202': { description: 'Accepted; workers scale in the background', schema: STATUS_SCHEMA },
      '400': err('Bad parameter'),
      '404': err('Model or version not found'),
    },
  });
  const unregisterDoc = (operationId: string, withVersion: boolean): OpenApiOperationDoc => ({
    operationId,
    summary: withVersion ? 'Unregister a version of a model.' : 'Unregister the default version of a model.',
    parameters: [NAME_PARAM, ...(withVersion ? [VERSION_PARAM] : []), ...openApiParams(DELETE_PARAMS)],
    responses: {
      '200': { description: 'Unregistered', schema: STATUS_SCHEMA },
      '403': err('Cannot remove the default version while other versions exist'),
      '404': err('Model or version not found'),
      '405': err('Model API disabled'),
    },
  });

  const describe = async (request: Req, reply: FastifyReply) => {
    requireModelPermission(principalOf(request), 'describe');
    parseParams(DESCRIBE_PARAMS, request.query);
    const { model_name: name, model_version: version } = request.params;
    return sendJson(reply, 200, await registry.describe(name, version, principalOf(request)));
  };
  const scale = async (request: Req, reply: FastifyReply) => {
    requireModelPermission(principalOf(request), 'scale');
    const q = parseParams(SCALE_PARAMS, request.query);
    const name = request.params.model_name;
    const version = request.params.model_version ?? (q.model_version as string | undefined);
    const min = (q.min_worker as number | undefined) ?? 1;
    const max = (q.max_worker as number | undefined) ?? min;
    const result = await registry.scale(name, version, min, max, (q.synchronous as boolean | undefined) ?? false, principalOf(request));
    return sendJson(reply, result.accepted ? 202 : 200, { status: result.message });
  };
  const unregister = async (request: Req, reply: FastifyReply) => {
    requireModelPermission(principalOf(request), 'unregister');
    assertModelApiEnabled();
    parseParams(DELETE_PARAMS, request.query);
    const result = await registry.unregister(request.params.model_name, request.params.model_version, principalOf(request));
    return sendJson(reply, 200, { status: result.message });
  };
  const perModelDescription = async (request: Req, reply: FastifyReply) => {
    requireModelPermission(principalOf(request), 'describe');
    const name = request.params.model_name;
    await registry.assertVisible(name, principalOf(request));
    return sendJson(reply, 200, buildOpenApiDocument(perModelRoutes(routes, name), { title: `RESTful Management API for: ${name}` }));
  };

  add('GET', '/models/:model_name', describeDoc('describeModel', false), describe);
  add('PUT', '/models/:model_name', scaleDoc('setAutoScale', false), scale);
  add('DELETE', '/models/:model_name', unregisterDoc('unregisterModel', false), unregister);
  add('OPTIONS', '/models/:model_name', false, perModelDescription);
  add('GET', '/models/:model_name/:model_version', describeDoc('version_describeModel', true), describe);
  add('PUT', '/models/:model_name/:model_version', scaleDoc('version_setAutoScale', true), scale);
  add('DELETE', '/models/:model_name/:model_version', unregisterDoc('version_unregisterModel', true), unregister);
  add('OPTIONS', '/models/:model_name/:model_version', false, perModelDescription);

  add('PUT', '/models/:model_name/:model_version/set-default', {
    operationId: 'setDefault',
    summary: 'Set the default version of a model.',
    parameters: [NAME_PARAM, VERSION_PARAM],
    responses: { '200': { description: 'Default version set', schema: STATUS_SCHEMA }, '404': err('Model or version not found') },
  }, async (request, reply) => {
    requireModelPermission(principalOf(request), 'setDefault');
    const { model_name: name, model_version: version } = request.params;
    const result = await registry.setDefault(name, version!, principalOf(request));
    return sendJson(reply, 200, { status: result.message });
  });

  add('GET', '/v1/models/:model_name', {
    operationId: 'kserveModelReady',
    summary: 'KServe v1 model readiness: ready when the default version has a worker.',
    parameters: [NAME_PARAM],
    responses: { '200': { description: 'OK', schema: READY_SCHEMA }, '404': err('Model not found') },
  }, async (request, reply) => {
    requireModelPermission(principalOf(request), 'describe');
    return sendJson(reply, 200, await registry.modelReady(request.params.model_name, principalOf(request)));
  });

  // Every other method on these paths: 405 (spec §3.2).
  const notAllowed = async () => {
    throw new MethodNotAllowedError();
  };
  const others = (handled: string[]) => app.supportedMethods.filter((m) => !handled.includes(m));
  add(others(['GET', 'POST']), '/models', false, notAllowed);
  add(others(['GET', 'PUT', 'DELETE', 'OPTIONS']), '/models/:model_name', false, notAllowed);
  add(others(['GET', 'PUT', 'DELETE', 'OPTIONS']), '/models/:model_name/:model_version', false, notAllowed);
  add(others(['PUT']), '/models/:model_name/:model_version/set-default', false, notAllowed);
  add(others(['GET']), '/v1/models/:model_name', false, notAllowed);
}

/** The caller, as the auth hook set it; no hook (or no identity) means access control is inactive. */
function principalOf(request: FastifyRequest): Principal {
  return (request as { principal?: Principal | null }).principal ?? NO_PRINCIPAL;
}

/** Register parameters: a JSON body when Content-Type is application/json, else the query string. */
function registerSource(request: FastifyRequest): unknown {
  const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return request.query;
  const body: unknown = request.body;
  if (body === undefined || body === null) return {};
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    const text = Buffer.isBuffer(body) ? body.toString('utf8') : body;
    if (text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new BadRequestError(`Invalid JSON body: ${(e as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequestError('Invalid JSON body: must be a JSON object');
    return parsed;
  }
  return body;
}

function toRegisterParams(p: Record<string, unknown>): RegisterParams {
  const out: RegisterParams = { url: p.url as string };
  const set = <K extends keyof RegisterParams>(key: K, value: unknown) => {
    if (value !== undefined) out[key] = value as RegisterParams[K];
  };
  set('modelName', (p.model_name as string | undefined) || undefined);
  set('handler', (p.handler as string | undefined) || undefined);
  set('runtime', p.runtime as RuntimeType | undefined);
  set('batchSize', p.batch_size);
  set('maxBatchDelayMs', p.max_batch_delay);
  set('initialWorkers', p.initial_workers);
  set('synchronous', p.synchronous);
  set('responseTimeoutSec', p.response_timeout);
  set('startupTimeoutSec', p.startup_timeout);
  set('modelGroupId', p.model_group_id);
  set('accessMode', p.access_mode);
  set('backendRoles', p.backend_roles);
  set('addAllBackendRoles', p.add_all_backend_roles);
  set('description', p.description);
  return out;
}

/** The model's own operations, with its name in the paths (spec §7.7, `RESTful Management API for: <name>`). */
function perModelRoutes(routes: readonly { options: RouteOptions; doc: OpenApiOperationDoc | false }[], name: string): CollectedRoute[] {
  return routes
    .filter((r) => r.doc !== false && r.options.url.startsWith('/models/:model_name'))
    .map((r) => ({
      method: r.options.method,
      url: r.options.url.replace(':model_name', encodeURIComponent(name).replace(/:/g, '%3A')),
      doc: r.doc,
    }));
}
