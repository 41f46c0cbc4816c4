/**
 * KServe v1 on the inference listener (spec §8.8, open-inference-protocol.md §9):
 *   /v1/models/{m}:predict, /v1/models/{m}:explain   inference, default version, TorchServe errors
 *   GET /v1/models                                    {"models": [...]} (KServe runtime)
 *   GET /v1/models/{m}                                {"name", "ready": true} or 503 (KServe runtime)
 * find-my-way cannot put a literal ':' after a parameter, so one wildcard route parses the segment.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendJson } from '../common.js';
import { MethodNotAllowedError, ResourceNotFoundError } from '../../errors.js';
import type { InferenceRequest } from '../../workers/types.js';
import { accessibleModelNames, dropContentType, inferenceAction, resolveModel, runInference, type InferenceContext } from './context.js';
import { isModelReady } from './health.js';
import { modelNotReady, OipError, toOipError } from './oip-error.js';
import { INFERENCE_METHODS, modelOpenApi, routeDoc } from './predictions.js';
import { handlerHeaders, readParams } from './request-params.js';

export function kserveV1Routes(app: FastifyInstance, ctx: InferenceContext): void {
  app.route({
    method: 'GET',
    url: '/v1/models',
    config: routeDoc({ operationId: 'kserve_v1_list_models', summary: 'Names of the models (KServe v1).', responses: { '200': { description: 'OK', schema: { type: 'object' } } } }),
    handler: (request, reply) => listModels(ctx, request, reply),
  });
  // The API description cannot express `{model_name}:predict` from this route: it stays unlisted.
  app.route<{ Params: { '*': string } }>({
    method: INFERENCE_METHODS,
    url: '/v1/models/*',
    onSend: dropContentType(ctx),
    config: routeDoc(false),
    handler: (request, reply) => v1Model(ctx, request, reply),
  });
}

/** `{"models": [...]}` (KServe v1 and OIP `/v2/models`): the models the caller may see (a hidden model is not listed). */
export async function listModels(ctx: InferenceContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let models: string[];
  try {
    models = await accessibleModelNames(ctx.deps, request);
  } catch (err) {
    throw toOipError(err, undefined, request.id);
  }
  return sendJson(reply, 200, { models });
}

async function v1Model(ctx: InferenceContext, request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply): Promise<FastifyReply> {
  let rest = request.params['*'];
  while (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest === '' && (request.method === 'GET' || request.method === 'HEAD')) return listModels(ctx, request, reply);
  if (rest === '' || rest.includes('/')) throw new ResourceNotFoundError();

  const colon = rest.lastIndexOf(':');
  if (colon === -1) {
    if (request.method !== 'GET' && request.method !== 'HEAD') throw new MethodNotAllowedError();
    return modelReady(ctx, request, reply, rest);
  }
  // TorchServe matches ":predict" anywhere in the segment; we require the exact verb at the end.
  const verb = rest.slice(colon + 1);
  const name = rest.slice(0, colon);
  if ((verb !== 'predict' && verb !== 'explain') || name === '') throw new ResourceNotFoundError();
  const explain = verb === 'explain';
  const entry = await resolveModel(ctx.deps, request, name, undefined, inferenceAction(request));
  if (request.method === 'OPTIONS') return sendJson(reply, 200, modelOpenApi(name));
  const req: InferenceRequest = {
    id: request.id,
    protocol: 'kserve-v1',
    explain,
    headers: handlerHeaders(request, { explain: explain ? 'True' : 'False' }),
    params: await readParams(request, ctx.deps.config.maxRequestSizeBytes, [], { forms: false }),
  };
  return runInference(ctx, reply, entry, 'default', req);
}

async function modelReady(ctx: InferenceContext, request: FastifyRequest, reply: FastifyReply, name: string): Promise<FastifyReply> {
  try {
    const entry = await resolveModel(ctx.deps, request, name, undefined, 'describe');
    if (!isModelReady(entry)) throw new OipError(503, modelNotReady(name), 'MODEL_NOT_READY');
    return sendJson(reply, 200, { name, ready: true });
  } catch (err) {
    throw toOipError(err, name, request.id);
  }
}
