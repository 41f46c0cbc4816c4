/**
 * Open Inference Protocol v2 (REST), open-inference-protocol.md. Every error of these routes is
 * `{"error": "<message>"}`.
 *
 *   always:            ANY  /v2/models/{m}/infer, /v2/models/{m}/explain   (TorchServe: always on;
 *                                                                   OPTIONS: the model's OpenAPI)
 *   OIP switch on:     GET  /v2, /v2/health/live, /v2/health/ready, /v2/models
 *                      GET  /v2/models/{m}[/versions/{v}], .../ready
 *                      ANY  /v2/models/{m}/versions/{v}/infer | /explain
 * With the switch off the rest answers TorchServe's 404, as TorchServe does (spec §8.9).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendJson } from '../common.js';
import type { OpenApiOperationDoc } from '../openapi.js';
import type { InferenceRequest, TensorDtype, TensorInfo } from '../../workers/types.js';
import { canAccess, inferenceAction, resolveModel, runInference, type InferenceContext } from './context.js';
import { isModelReady, isServerHealthy } from './health.js';
import { modelNotReady, OipError, toOipError } from './oip-error.js';
import { listModels } from './kserve-v1.js';
import { inferenceRoute, modelOpenApi, predictionsDoc, routeDoc } from './predictions.js';
import { handlerHeaders, readParams } from './request-params.js';

/** OIP datatype names (§6.1) of ONNX Runtime's element types. */
export const OIP_DATATYPES: Readonly<Record<TensorDtype, string>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** TorchServe's extensions, under the spec's key and under TorchServe's misspelled one (§3). */
const EXTENSIONS = ['kserve', 'kubeflow'];

type ModelParams = { model_name: string; model_version?: string };

const OIP_ERROR_SCHEMA = { type: 'object', required: ['error'], properties: { error: { type: 'string' } } };

/** An OIP GET route's entry in the API description. */
function getDoc(operationId: string, summary: string): OpenApiOperationDoc {
  return {
    operationId,
    summary,
    responses: {
      '200': { description: 'OK', schema: { type: 'object' } },
      '404': { description: 'Model not found', schema: OIP_ERROR_SCHEMA },
      '503': { description: 'Not ready', schema: OIP_ERROR_SCHEMA },
    },
  };
}

export function oipRoutes(app: FastifyInstance, ctx: InferenceContext, serverVersion: string): void {
  const infer = (explain: boolean) => (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) =>
    inferHandler(ctx, request, reply, explain);
  // TorchServe lists v2 infer under its `predictions` operation (spec §3.7).
  inferenceRoute(app, ctx, '/v2/models/:model_name/infer', predictionsDoc('predictions', 'Open Inference Protocol inference on the default model version.'), infer(false));
  inferenceRoute(app, ctx, '/v2/models/:model_name/explain', predictionsDoc('v2_explain', 'Open Inference Protocol explanation on the default model version.'), infer(true));
  if (!ctx.deps.config.openInferenceProtocol) return;

  inferenceRoute(app, ctx, '/v2/models/:model_name/versions/:model_version/infer', predictionsDoc('v2_version_infer', 'Open Inference Protocol inference on a model version.'), infer(false));
  inferenceRoute(app, ctx, '/v2/models/:model_name/versions/:model_version/explain', false, infer(true));

  const get = <P>(url: string, doc: OpenApiOperationDoc, handler: (request: FastifyRequest<{ Params: P }>, reply: FastifyReply) => Promise<FastifyReply> | FastifyReply) =>
    app.route<{ Params: P }>({ method: 'GET', url, config: routeDoc(doc), handler });

  get('/v2', getDoc('v2_server_metadata', 'Server metadata.'), (_request, reply) =>
    sendJson(reply, 200, { name: 'tsserve', version: serverVersion, extensions: EXTENSIONS, extenstion: EXTENSIONS }),
  );
  get('/v2/health/live', getDoc('v2_live', 'Server liveness.'), (_request, reply) => sendJson(reply, 200, { live: true }));
  get('/v2/health/ready', getDoc('v2_ready', 'Server readiness: every default model version healthy.'), (_request, reply) => {
    if (!isServerHealthy(ctx.deps.registry)) throw new OipError(503, 'Server is not ready.', 'SERVER_NOT_READY');
    return sendJson(reply, 200, { ready: true });
  });
  get('/v2/models', getDoc('v2_list_models', 'Names of the models.'), (request, reply) => listModels(ctx, request, reply));

  const metadata = (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => modelMetadata(ctx, request, reply);
  const ready = (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => modelReady(ctx, request, reply);
  get('/v2/models/:model_name', getDoc('v2_model_metadata', 'Model metadata (default version).'), metadata);
  get('/v2/models/:model_name/versions/:model_version', getDoc('v2_version_metadata', 'Model metadata of a version.'), metadata);
  get('/v2/models/:model_name/ready', getDoc('v2_model_ready', 'Model readiness (default version).'), ready);
  get('/v2/models/:model_name/versions/:model_version/ready', getDoc('v2_version_ready', 'Model readiness of a version.'), ready);
}

async function inferHandler(
  ctx: InferenceContext,
  request: FastifyRequest<{ Params: ModelParams }>,
  reply: FastifyReply,
  explain: boolean,
): Promise<FastifyReply> {
  const { model_name: model, model_version: version } = request.params;
  try {
    const entry = await resolveModel(ctx.deps, request, model, version, inferenceAction(request));
    if (request.method === 'OPTIONS') return sendJson(reply, 200, modelOpenApi(model));
    // The body (JSON, or JSON header + binary tensors with inference-header-content-length) goes
    // to the worker untouched; the header travels with the others.
    const req: InferenceRequest = {
      id: request.id,
      protocol: 'oip-v2',
      explain,
      headers: handlerHeaders(request, { explain: explain ? 'True' : 'False' }),
      params: await readParams(request, ctx.deps.config.maxRequestSizeBytes, [], { forms: false }),
    };
    return await runInference(ctx, reply, entry, version ?? 'default', req);
  } catch (err) {
    throw oipFailure(request, err, model);
  }
}

async function modelMetadata(ctx: InferenceContext, request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<FastifyReply> {
  const { model_name: model, model_version: version } = request.params;
  try {
    const entry = await resolveModel(ctx.deps, request, model, version, 'describe');
    const versions: string[] = [];
    for (const e of ctx.deps.registry.versions(model)) if (await canAccess(ctx.deps, request, e)) versions.push(e.version);
    const { io } = entry.runtime;
    return sendJson(reply, 200, {
      name: model,
      versions,
      platform: 'onnx_onnxv1',
      inputs: io.inputs.map(tensorMetadata),
      outputs: io.outputs.map(tensorMetadata),
    });
  } catch (err) {
    throw oipFailure(request, err, model);
  }
}

async function modelReady(ctx: InferenceContext, request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply): Promise<FastifyReply> {
  const { model_name: model, model_version: version } = request.params;
  try {
    const entry = await resolveModel(ctx.deps, request, model, version, 'describe');
    if (!isModelReady(entry)) throw new OipError(503, modelNotReady(model), 'MODEL_NOT_READY');
    return sendJson(reply, 200, { name: model, ready: true });
  } catch (err) {
    throw oipFailure(request, err, model);
  }
}


/** Name, OIP datatype and shape with -1 for every symbolic or unknown dimension (§4). */
export function tensorMetadata(t: TensorInfo): { name: string; datatype: string; shape: number[] } {
  return {
    name: t.name,
    datatype: OIP_DATATYPES[t.dtype] ?? t.dtype.toUpperCase(),
    shape: t.shape.map((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 0 ? d : -1)),
  };
}

function oipFailure(request: FastifyRequest, err: unknown, model: string): OipError {
  const out = toOipError(err, model, request.id);
  if (out.code === 'INTERNAL') request.log.error({ err }, 'oip request failed');
  return out;
}
