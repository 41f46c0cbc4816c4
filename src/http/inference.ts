/**
 * The inference API (port 8080): TorchServe's routes, KServe v1 and the Open Inference Protocol v2
 * (spec §3.2, §8; open-inference-protocol.md). Register it on the inference listener's instance:
 *
 *   app.register(inferenceApi, deps)
 *
 * The server (not this plugin) provides: a catch-all content-type parser that leaves the body as a
 * raw Buffer (anything but multipart/form-data), @fastify/multipart, the auth hook that sets
 * `request.principal`, request ids, and the error handler that renders a TsServeError as
 * `err.body()` with `err.status` and `err.headers`.
 *
 * Hot path (predictions, v1, v2): look the model up, check access, count it, hand the raw bytes to
 * the engine, send the engine's bytes back. No JSON is parsed or produced on the event loop.
 */
import type { FastifyInstance } from 'fastify';
import { sendJson } from './common.js';
import { packageVersion } from '../archive/package-version.js';
import { createInferenceContext, type InferenceApiDeps } from './inference/context.js';
import { isServerHealthy } from './inference/health.js';
import { kserveV1Routes } from './inference/kserve-v1.js';
import { oipRoutes } from './inference/oip-v2.js';
import { predictionRoutes, routeDoc } from './inference/predictions.js';
import { STATUS_SCHEMA } from './openapi.js';

export type { InferenceApiDeps, ModelAccess } from './inference/context.js';
export { OipError } from './inference/oip-error.js';

export async function inferenceApi(app: FastifyInstance, deps: InferenceApiDeps): Promise<void> {
  const ctx = createInferenceContext(deps);

  // Spec §8.1: 200 Healthy / 500 Unhealthy, a status body (not the error shape).
  app.route({
    method: 'GET',
    url: '/ping',
    config: routeDoc({
      operationId: 'ping',
      summary: 'Get TorchServe status.',
      responses: { '200': { description: 'TorchServe status', schema: STATUS_SCHEMA } },
    }),
    handler: (_request, reply) =>
      isServerHealthy(deps.registry) ? sendJson(reply, 200, { status: 'Healthy' }) : sendJson(reply, 500, { status: 'Unhealthy' }),
  });

  predictionRoutes(app, ctx);
  kserveV1Routes(app, ctx);
  oipRoutes(app, ctx, packageVersion());
}
