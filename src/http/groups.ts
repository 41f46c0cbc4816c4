/**
 * OpenSearch ML Commons model group API on the management listener (model-groups.md §3):
 *
 *   POST   /_plugins/_ml/model_groups/_register      register (§4)
 *   PUT    /_plugins/_ml/model_groups/{id}           update (§5)
 *   GET    /_plugins/_ml/model_groups/{id}           get (§6)
 *   DELETE /_plugins/_ml/model_groups/{id}           delete (§8)
 *   GET|POST /_plugins/_ml/model_groups/_search     search (§7; body or `source` parameter)
 *
 * Bodies arrive as raw Buffers (the listener's catch-all parser) and are decoded here; errors are
 * OpenSearchErrors, rendered in OpenSearch's envelope by the server's error handler.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NO_PRINCIPAL, type Principal } from '../auth/principal.js';
import { parseError } from '../groups/errors.js';
import type { Config } from '../config/schema.js';
import { PayloadTooLargeError } from '../errors.js';
import type { HttpDeps } from './deps.js';
import { sendJson } from './common.js';

const BASE = '/_plugins/_ml/model_groups';
/** TorchServe's default max_request_size, when no config is passed (tests). */
const DEFAULT_LIMIT_BYTES = 6_553_500;

type IdParams = { Params: { model_group_id: string } };

/** The caller set by the auth hook; `none` when no hook ran. */
export function principalOf(request: FastifyRequest): Principal {
  return (request as FastifyRequest & { principal?: Principal }).principal ?? NO_PRINCIPAL;
}

/**
 * The request body as JSON: undefined when there is none (empty), a 400 parse_exception when it is
 * not valid JSON. Accepts a Buffer (the server's parser), a string, or an already parsed value.
 */
export function jsonBody(body: unknown): unknown {
  if (body === undefined || body === null) return undefined;
  let text: string;
  if (Buffer.isBuffer(body)) text = body.toString('utf8');
  else if (typeof body === 'string') text = body;
  else return body;
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw parseError(`Failed to parse request body as JSON: ${(err as Error).message}`);
  }
}

/**
 * The body of a GET request: Fastify does not parse bodies of GET, but OpenSearch clients send
 * search bodies with GET (`curl -XGET ... -d '{"query": ...}'`), so the raw stream is read here,
 * within the listener's size limit.
 */
export async function readGetBody(request: FastifyRequest, limitBytes: number): Promise<Buffer | undefined> {
  if (request.body !== undefined && request.body !== null) return request.body as Buffer;
  const raw = request.raw;
  if (raw.readableEnded || raw.destroyed) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > limitBytes) throw new PayloadTooLargeError(limitBytes);
    chunks.push(buf);
  }
  return size === 0 ? undefined : Buffer.concat(chunks);
}

export type GroupsApiDeps = Pick<HttpDeps, 'groups'> & { config?: Pick<Config, 'maxRequestSizeBytes'> };

export async function groupsApi(app: FastifyInstance, deps: GroupsApiDeps): Promise<void> {
  const { groups } = deps;
  const limitBytes = deps.config?.maxRequestSizeBytes ?? DEFAULT_LIMIT_BYTES;

  app.post(`${BASE}/_register`, async (request, reply) => {
    const result = await groups.register(principalOf(request), jsonBody(request.body));
    return sendJson(reply, 200, result);
  });

  const search = async (request: FastifyRequest<{ Querystring: { source?: string } }>): Promise<unknown> => {
    let body = jsonBody(request.method === 'GET' ? await readGetBody(request, limitBytes) : request.body);
    if (body === undefined && typeof request.query.source === 'string') body = jsonBody(request.query.source);
    return groups.search(principalOf(request), body);
  };
  app.get<{ Querystring: { source?: string } }>(`${BASE}/_search`, async (request, reply) => sendJson(reply, 200, await search(request)));
  app.post<{ Querystring: { source?: string } }>(`${BASE}/_search`, async (request, reply) => sendJson(reply, 200, await search(request)));

  app.put<IdParams>(`${BASE}/:model_group_id`, async (request, reply) => {
    const result = await groups.update(principalOf(request), request.params.model_group_id, jsonBody(request.body));
    return sendJson(reply, 200, result);
  });

  app.get<IdParams>(`${BASE}/:model_group_id`, async (request, reply) => {
    const doc = await groups.get(principalOf(request), request.params.model_group_id);
    return sendJson(reply, 200, doc);
  });

  app.delete<IdParams>(`${BASE}/:model_group_id`, async (request, reply) => {
    const result = await groups.delete(principalOf(request), request.params.model_group_id);
    return sendJson(reply, 200, result);
  });
}
