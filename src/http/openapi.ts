/**
 * OpenAPI 3.0.1 descriptions generated from the routes registered on a Fastify instance (spec §3.7,
 * issue #6), so the document cannot drift from what is served.
 *
 * A route contributes what its options say:
 * - `schema.querystring` / `schema.params` (JSON Schema objects with `properties`) → parameters,
 *   `schema.body` → requestBody, `schema.response` → responses, `schema.operationId` / `summary` /
 *   `description` / `deprecated`;
 * - `config.openapi` (an OpenApiOperationDoc) adds to or overrides that, for routes that validate
 *   by hand (zod) or whose body is a raw Buffer; `config.openapi: false` hides a route.
 * Every operation declares 500 with the error schema; HEAD routes are left out.
 *
 * `installApiDescription(app, { title })` must be called before the API's routes are registered
 * (it collects them with an onRoute hook); it serves the document at `OPTIONS /` and at
 * `/api-description` with any method, and answers 405 to other methods on `/` (spec §3.1).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { MethodNotAllowedError } from '../errors.js';
import { sendJson } from './common.js';

export type JsonSchema = Record<string, unknown>;

export type OpenApiParameter = {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
};

export type OpenApiResponseDoc = { description: string; schema?: JsonSchema; contentType?: string };

export type OpenApiOperationDoc = {
  operationId?: string;
  summary?: string;
  description?: string;
  deprecated?: boolean;
  parameters?: OpenApiParameter[];
  requestBody?: { description?: string; required?: boolean; content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, OpenApiResponseDoc>;
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** OpenAPI description of the route (adds to / overrides its schema); false hides it. */
    openapi?: OpenApiOperationDoc | false;
  }
}

/** What onRoute saw of one route. */
export type CollectedRoute = {
  method: string | string[];
  url: string;
  schema?: RouteOptions['schema'];
  doc?: OpenApiOperationDoc | false;
};

export type OpenApiInfo = { title: string; description?: string; version?: string };

export type OpenApiDocument = {
  openapi: '3.0.1';
  info: { title: string; description: string; version: string };
  paths: Record<string, Record<string, unknown>>;
};

/** TorchServe's error body (spec §3.4). */
export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['code', 'type', 'message'],
  properties: {
    code: { type: 'integer', description: 'Error code (equals the HTTP status).' },
    type: { type: 'string', description: 'Error type.' },
    message: { type: 'string', description: 'Error message.' },
  },
};

/** `{"status": "..."}` bodies of the management API. */
export const STATUS_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', description: 'Status message.' } },
};

const DEFAULT_DESCRIPTION = 'tsserve is a TorchServe-compatible model server for ONNX models';
/** The TorchServe API version these routes follow. */
const DEFAULT_VERSION = '0.12.0';

/** Starts collecting the routes registered on `app` from now on (the returned array fills up). */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (opts) => {
    const config = opts.config;
    routes.push({
      method: opts.method,
      url: opts.url ?? opts.path ?? '',
      ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
      ...(config?.openapi !== undefined ? { doc: config.openapi } : {}),
    });
  });
  return routes;
}

/** Fastify path → OpenAPI path: `/models/:model_name` → `/models/{model_name}`, `::` → `:`. */
export function toOpenApiPath(url: string): string {
  return url
    .replace(/::/g, '\u0000')
    .replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}')
    .replace(/\*/g, '{wildcard}')
    .replace(/\u0000/g, ':');
}

export function buildOpenApiDocument(routes: readonly CollectedRoute[], info: OpenApiInfo): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    if (route.doc === false) continue;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase()).filter((m) => m !== 'HEAD');
    if (methods.length === 0) continue;
    const p = toOpenApiPath(route.url);
    for (const method of methods) {
      (paths[p] ??= {})[method.toLowerCase()] = operationOf(route, p);
    }
  }
  return {
    openapi: '3.0.1',
    info: { title: info.title, description: info.description ?? DEFAULT_DESCRIPTION, version: info.version ?? DEFAULT_VERSION },
    paths,
  };
}

/**
 * Collects `app`'s routes and serves their description (spec §3.1, §3.7). Call before registering
 * the API's routes. Returns a function giving the current document.
 */
export function installApiDescription(app: FastifyInstance, info: OpenApiInfo): () => OpenApiDocument {
  const routes = collectRoutes(app);
  let cached: OpenApiDocument | undefined;
  const document = (): OpenApiDocument => (cached ??= buildOpenApiDocument(routes, info));
  const send = async (_request: FastifyRequest, reply: FastifyReply) => sendJson(reply, 200, document());

  app.route({
    method: 'OPTIONS',
    url: '/',
    config: { openapi: { operationId: 'apiDescription', summary: 'Get openapi description.', responses: { '200': { description: 'A openapi 3.0.1 descriptor.', schema: { type: 'object' } } } } },
    handler: send,
  });
  app.route({
    method: 'GET',
    url: '/api-description',
    exposeHeadRoute: false,
    config: { openapi: { operationId: 'api-description', summary: 'Get openapi description.', deprecated: true, responses: { '200': { description: 'A openapi 3.0.1 descriptor.', schema: { type: 'object' } } } } },
    handler: send,
  });
  app.route({ method: app.supportedMethods.filter((m) => m !== 'GET'), url: '/api-description', config: { openapi: false }, handler: send });
  app.route({
    method: app.supportedMethods.filter((m) => m !== 'OPTIONS'),
    url: '/',
    exposeHeadRoute: false,
    config: { openapi: false },
    handler: async () => {
      throw new MethodNotAllowedError();
    },
  });
  // Routes added later change the document; rebuild on the next request.
  app.addHook('onRoute', () => {
    cached = undefined;
  });
  return document;
}

function operationOf(route: CollectedRoute, openApiPath: string): Record<string, unknown> {
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const doc: OpenApiOperationDoc = route.doc === undefined || route.doc === false ? {} : route.doc;
  const op: Record<string, unknown> = {};
  const operationId = doc.operationId ?? (typeof schema.operationId === 'string' ? schema.operationId : undefined);
  if (operationId !== undefined) op.operationId = operationId;
  for (const key of ['summary', 'description', 'deprecated'] as const) {
    const v = doc[key] ?? schema[key];
    if (v !== undefined) op[key] = v;
  }

  const params = new Map<string, OpenApiParameter>();
  for (const name of [...openApiPath.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)) {
    params.set(`path:${name}`, { name, in: 'path', required: true, schema: { type: 'string' } });
  }
  addSchemaParams(params, schema.params, 'path', openApiPath);
  addSchemaParams(params, schema.querystring ?? schema.query, 'query', openApiPath);
  for (const p of doc.parameters ?? []) {
    if (p.in === 'path' && !openApiPath.includes(`{${p.name}}`)) continue;
    params.set(`${p.in}:${p.name}`, p);
  }
  if (params.size > 0) op.parameters = [...params.values()];

  if (doc.requestBody) op.requestBody = doc.requestBody;
  else if (isObject(schema.body)) op.requestBody = { content: { 'application/json': { schema: toOpenApiSchema(schema.body) } } };

  const responses: Record<string, unknown> = {};
  if (isObject(schema.response)) {
    for (const [code, s] of Object.entries(schema.response)) {
      responses[code] = responseOf({ description: isObject(s) && typeof s.description === 'string' ? s.description : 'OK', ...(isObject(s) ? { schema: toOpenApiSchema(s) } : {}) });
    }
  }
  for (const [code, r] of Object.entries(doc.responses ?? {})) responses[code] = responseOf(r);
  if (!Object.keys(responses).some((c) => c.startsWith('2'))) responses['200'] = { description: 'OK' };
  responses['500'] ??= responseOf({ description: 'Internal Server Error', schema: ERROR_SCHEMA });
  op.responses = responses;
  return op;
}

function addSchemaParams(into: Map<string, OpenApiParameter>, schema: unknown, where: 'path' | 'query', openApiPath: string): void {
  if (!isObject(schema) || !isObject(schema.properties)) return;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  for (const [name, s] of Object.entries(schema.properties)) {
    if (where === 'path' && !openApiPath.includes(`{${name}}`)) continue;
    const sch = isObject(s) ? toOpenApiSchema(s) : { type: 'string' };
    const description = isObject(s) && typeof s.description === 'string' ? s.description : undefined;
    into.set(`${where}:${name}`, {
      name,
      in: where,
      ...(where === 'path' || required.has(name) ? { required: true } : {}),
      ...(description !== undefined ? { description } : {}),
      schema: sch,
    });
  }
}

function responseOf(r: OpenApiResponseDoc): Record<string, unknown> {
  if (!r.schema) return { description: r.description };
  return { description: r.description, content: { [r.contentType ?? 'application/json']: { schema: r.schema } } };
}

/** Drops JSON-Schema-only keywords OpenAPI 3.0 does not know ($schema, $id). */
function toOpenApiSchema(s: Record<string, unknown>): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = s;
  return rest;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
