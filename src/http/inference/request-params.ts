/**
 * Turns an HTTP request into TorchServe's request record (spec §8.3): headers as sent plus the
 * synthetic ones, and the ordered parameters. Bodies stay raw bytes: nothing is JSON-parsed here
 * (the worker decodes, off the event loop), and the body Buffer is handed on without a copy.
 */
import type { FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { BadRequestError, PayloadTooLargeError } from '../../errors.js';
import type { RequestParam } from '../../workers/types.js';

const EMPTY = new Uint8Array(0);

/**
 * Lower-cased request headers as sent (repeated headers joined with ", "), plus `extra` (the
 * synthetic `explain` / `url_path`, which win over client-sent ones). `authorization` is left out:
 * the inference key is of no use to a handler and must not reach model code (docs/compatibility.md).
 */
export function handlerHeaders(request: FastifyRequest, extra: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = request.headers;
  for (const name in raw) {
    if (name === 'authorization') continue;
    const value = raw[name];
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  for (const name in extra) out[name] = extra[name]!;
  return out;
}

/** The MIME type without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mimeTypeOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return type === '' ? undefined : type;
}

/** The raw body as bytes, whatever the content-type parser left in `request.body`. */
export function bodyBytes(body: unknown): Uint8Array {
  if (body === undefined || body === null) return EMPTY;
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  // A parser that decoded the body (not the server's raw catch-all): hand the handler JSON bytes.
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** Query-string values as parameters without content type (legacy /predict and /invocations). */
export function queryParams(url: string): RequestParam[] {
  const q = url.indexOf('?');
  if (q === -1) return [];
  const out: RequestParam[] = [];
  for (const [name, value] of new URLSearchParams(url.slice(q + 1))) out.push({ name, value: Buffer.from(value, 'utf8') });
  return out;
}

/**
 * The request's parameters (spec §8.3): one per form field for multipart/form-data and
 * application/x-www-form-urlencoded (file parts keep their content type and file name, plain fields
 * have none, repeated names are all kept in order); otherwise one `body` parameter with the
 * request's MIME type and the raw bytes. `leading` (query parameters) come first.
 * `forms: false` (KServe v1 and OIP routes, whose bodies are JSON whatever the client labels them —
 * `curl -d` sends application/x-www-form-urlencoded) keeps a urlencoded body whole as `body`.
 */
export async function readParams(
  request: FastifyRequest,
  maxRequestSizeBytes: number,
  leading: RequestParam[] = [],
  opts: { forms?: boolean } = {},
): Promise<RequestParam[]> {
  const params = leading;
  // isMultipart exists only when the server registered @fastify/multipart.
  if (typeof request.isMultipart === 'function' && request.isMultipart()) {
    await readMultipart(request.parts({ limits: { fileSize: maxRequestSizeBytes, fieldSize: maxRequestSizeBytes } }), params, maxRequestSizeBytes);
    return params;
  }
  const contentType = mimeTypeOf(request.headers['content-type']);
  const body = bodyBytes(request.body);
  if (contentType === 'application/x-www-form-urlencoded' && opts.forms !== false) {
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
    for (const [name, value] of new URLSearchParams(text)) params.push({ name, value: Buffer.from(value, 'utf8') });
    return params;
  }
  params.push(contentType === undefined ? { name: 'body', value: body } : { name: 'body', contentType, value: body });
  return params;
}

async function readMultipart(parts: AsyncIterableIterator<Multipart>, params: RequestParam[], limit: number): Promise<void> {
  try {
    for await (const part of parts) {
      if (part.type === 'file') {
        const value = await part.toBuffer();
        const contentType = mimeTypeOf(part.mimetype);
        const param: RequestParam = { name: part.fieldname, value };
        if (contentType !== undefined) param.contentType = contentType;
        if (part.filename) param.filename = part.filename;
        params.push(param);
      } else if (typeof part.value === 'string') {
        params.push({ name: part.fieldname, value: Buffer.from(part.value, 'utf8') });
      } else {
        // @fastify/multipart already parsed a field sent as application/json: hand it back as JSON.
        params.push({ name: part.fieldname, contentType: 'application/json', value: Buffer.from(JSON.stringify(part.value), 'utf8') });
      }
    }
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 413) throw new PayloadTooLargeError(limit);
    throw new BadRequestError(`Invalid multipart request: ${(err as Error).message}`);
  }
}
