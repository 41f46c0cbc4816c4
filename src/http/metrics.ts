/**
 * Metrics listener (default 127.0.0.1:8082), spec §3.1, §3.7, §10.1. Chain as TorchServe's:
 * API description -> metrics -> 404. No token check: server.ts does not install the auth hook
 * on this listener (spec §4.3). Unknown paths fall through to the server's 404 handler.
 *
 *   GET /metrics[/...][?name[]=a&name[]=b]   Prometheus text (empty body in metrics_mode=log)
 *   OPTIONS /, any /api-description          OpenAPI document listing only /metrics
 *   other methods on /                       405
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { MethodNotAllowedError } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics/metrics.js';
import type { MetricsSink } from '../metrics/types.js';
import type { HttpDeps } from './deps.js';

/** OpenAPI `info` of every TorchServe API description (spec §3.7). */
export const OPENAPI_INFO = {
  title: 'TorchServe APIs',
  description: 'TorchServe is a flexible and easy to use tool for serving deep learning models',
  version: '0.12.0',
} as const;

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What the OpenAPI document says about one operation (TorchServe's metrics_open_api.json). */
export type OperationDoc = {
  operationId: string;
  description: string;
  parameters?: readonly { in: 'query' | 'path'; name: string; description: string; required: boolean; type: 'string' | 'integer' | 'boolean' }[];
  /** Media type and schema of the 200 answer. */
  ok: { description: string; contentType: string; schema: Record<string, unknown> };
};

export type RouteEntry = {
  methods: readonly HTTPMethods[];
  url: string;
  handler: Handler;
  /** Present for routes the API description lists (keyed by the first method, lower-cased). */
  doc?: OperationDoc;
};

const ALL_METHODS: readonly HTTPMethods[] = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'];

const ERROR_SCHEMA = {
  type: 'object',
  required: ['code', 'type', 'message'],
  properties: {
    code: { type: 'integer', description: 'Error code.' },
    type: { type: 'string', description: 'Error type.' },
    message: { type: 'string', description: 'Error message.' },
  },
} as const;

/** Builds an OpenAPI 3.0.1 document from the documented entries of a route table. */
export function buildOpenApi(routes: readonly RouteEntry[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    if (route.doc === undefined) continue;
    const doc = route.doc;
    const operation: Record<string, unknown> = { description: doc.description, operationId: doc.operationId };
    if (doc.parameters !== undefined) {
      operation.parameters = doc.parameters.map((p) => ({
        in: p.in,
        name: p.name,
        description: p.description,
        required: p.required,
        schema: { type: p.type },
      }));
    }
    operation.responses = {
      '200': { description: doc.ok.description, content: { [doc.ok.contentType]: { schema: doc.ok.schema } } },
      '500': { description: 'Internal Server Error', content: { 'application/json': { schema: ERROR_SCHEMA } } },
    };
    (paths[route.url] ??= {})[route.methods[0]!.toLowerCase()] = operation;
  }
  return { openapi: '3.0.1', info: { ...OPENAPI_INFO }, paths };
}

/** `name[]` values from the raw query string, independent of the server's querystring parser. */
export function metricNamesFromUrl(url: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll('name[]').filter((n) => n !== '');
}

/** The metrics listener's route table; `/metrics` is the one documented operation. */
export function metricsRoutes(deps: Pick<HttpDeps, 'metricsRegistry'>): RouteEntry[] {
  const serveMetrics: Handler = async (req, reply) => {
    const body = await deps.metricsRegistry.render(metricNamesFromUrl(req.url));
    return reply.code(200).header('content-type', deps.metricsRegistry.contentType).send(body);
  };
  const notAllowed: Handler = async () => {
    throw new MethodNotAllowedError();
  };
  const routes: RouteEntry[] = [
    {
      methods: ['GET', 'HEAD'],
      url: '/metrics',
      handler: serveMetrics,
      doc: {
        operationId: 'metrics',
        description: 'Get TorchServe application metrics in prometheus format.',
        parameters: [{ in: 'query', name: 'name[]', description: 'Names of metrics to filter', required: false, type: 'string' }],
        ok: {
          description: 'TorchServe application metrics',
          contentType: PROMETHEUS_CONTENT_TYPE,
          schema: {
            type: 'object',
            required: ['# HELP', '# TYPE', 'metric'],
            properties: {
              '# HELP': { type: 'string', description: 'Help text for TorchServe metric.' },
              '# TYPE': { type: 'string', description: 'Type of TorchServe metric.' },
              metric: { type: 'string', description: 'TorchServe application metric.' },
            },
          },
        },
      },
    },
    // spec §10.1: any path whose first segment is `metrics`.
    { methods: ['GET', 'HEAD'], url: '/metrics/*', handler: serveMetrics },
    { methods: ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS'], url: '/metrics', handler: notAllowed },
    { methods: ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS'], url: '/metrics/*', handler: notAllowed },
  ];
  const description = JSON.stringify(buildOpenApi(routes), null, 2) + '\n';
  const describe: Handler = async (_req, reply) =>
    reply.code(200).header('content-type', 'application/json').send(description);
  routes.push(
    { methods: ['OPTIONS'], url: '/', handler: describe },
    { methods: ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'], url: '/', handler: notAllowed },
    { methods: ALL_METHODS, url: '/api-description', handler: describe },
  );
  return routes;
}

/** Fastify plugin for the metrics listener: `app.register(metricsApi, deps)`. */
export async function metricsApi(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  for (const route of metricsRoutes(deps)) {
    app.route({ method: [...route.methods], url: route.url, exposeHeadRoute: false, handler: route.handler });
  }
}

/**
 * Counts every response of a listener into Requests2XX/4XX/5XX (spec §10.2). Call on each root
 * Fastify instance (not inside an encapsulated plugin, so the hook sees every route and the 404s).
 */
export function countResponses(app: FastifyInstance, metrics: MetricsSink): void {
  // Callback style: an async hook would cost a promise and a microtask on every response.
  app.addHook('onResponse', (_req, reply, done) => {
    metrics.httpResponse(reply.statusCode);
    done();
  });
}
