/**
 * The one place errors become HTTP responses (STYLE.md "Errors", spec §3.4):
 *
 *   TsServeError          -> err.status, err.headers, err.body() ({code, type, message} by default)
 *   schema failure        -> 400 BadRequestException naming the parameter
 *   body too large        -> 413 PayloadTooLargeException (JSON; TorchServe sends an empty body)
 *   other Fastify 4xx     -> that status, BadRequestException, Fastify's message
 *   anything else         -> 500 InternalServerException, generic message, logged in full
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  InternalServerError,
  InvalidParameterError,
  MissingParameterError,
  PayloadTooLargeError,
  TsServeError,
} from '../errors.js';

/** TorchServe's JSON layout: 2-space indent and a trailing newline (spec §3.3). */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Maps any thrown value to the TsServeError that answers it. */
export function toTsServeError(err: unknown, maxRequestSizeBytes: number, requestId: string): TsServeError {
  if (err instanceof TsServeError) return err;
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(e.validation) && e.validation.length > 0) return fromValidation(e.validation[0], e.validationContext);
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413) return new PayloadTooLargeError(maxRequestSizeBytes);
  if (status >= 400 && status < 500) {
    return new TsServeError(status, 'BadRequestException', String(e.code ?? 'BAD_REQUEST'), String(e.message ?? 'Bad request'));
  }
  return new InternalServerError(`Internal server error (request id ${requestId})`);
}

type ValidationIssue = { keyword?: string; instancePath?: string; params?: Record<string, unknown>; message?: string };

function fromValidation(issue: ValidationIssue, context: string | undefined): TsServeError {
  if (issue.keyword === 'required' && typeof issue.params?.missingProperty === 'string') {
    return new MissingParameterError(issue.params.missingProperty);
  }
  const name = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || context || 'request';
  return new InvalidParameterError(name, issue.message ?? 'invalid');
}

/** Sends a TsServeError: its status, extra headers and body, as pretty JSON. */
export function sendError(reply: FastifyReply, err: TsServeError): FastifyReply {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  // A Buffer keeps the content type exactly `application/json` (a string would get a charset).
  return reply.code(err.status).header('content-type', 'application/json').send(Buffer.from(prettyJson(err.body())));
}

/** Installs the error handler on a listener's root instance (inherited by every plugin). */
export function installErrorHandler(app: FastifyInstance, opts: { maxRequestSizeBytes: number }): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = toTsServeError(err, opts.maxRequestSizeBytes, request.id);
    if (mapped.status >= 500) {
      request.log.error({ err, status: mapped.status, method: request.method, path: request.routeOptions.url }, 'request failed');
    } else {
      request.log.debug({ code: mapped.code, status: mapped.status }, 'request rejected');
    }
    return sendError(reply, mapped);
  });
}
