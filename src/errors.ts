/**
 * The one error hierarchy (STYLE.md "Errors"). Everything below src/http throws these; only
 * http/error-handler.ts turns them into TorchServe's `{code, type, message}` body (spec §3.4).
 *
 * - `status` is the HTTP status, `type` TorchServe's wire string (the Java exception's simple
 *   name), `code` a stable machine code for our own checks (never compare messages).
 * - Errors crossing the worker boundary travel as `{ code, status, type, message }` and are
 *   rebuilt with `errorFromWire`.
 */

export type ErrorWire = { code: string; status: number; type: string; message: string };

export class TsServeError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  /** Extra response headers (e.g. Retry-After on 503, WWW-Authenticate on auth failures). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    type: string,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.code = code;
    this.headers = headers;
  }

  /**
   * The JSON body sent for this error. TorchServe's `{code, type, message}` by default; errors of
   * other protocols (OpenSearch's `{error, status}`, OIP's `{error}`) override it.
   */
  body(): unknown {
    return { code: this.status, type: this.type, message: this.message };
  }

  toWire(): ErrorWire {
    return { code: this.code, status: this.status, type: this.type, message: this.message };
  }
}

// ---- 400 ---------------------------------------------------------------------------------------

export class BadRequestError extends TsServeError {
  constructor(message: string) {
    super(400, 'BadRequestException', 'BAD_REQUEST', message);
  }
}

/** A required parameter is missing: TorchServe's `Parameter <name> is required.` */
export class MissingParameterError extends TsServeError {
  constructor(name: string) {
    super(400, 'BadRequestException', 'MISSING_PARAMETER', `Parameter ${name} is required.`);
  }
}

/** A parameter has an invalid value; the message names the parameter. */
export class InvalidParameterError extends TsServeError {
  constructor(name: string, detail: string) {
    super(400, 'BadRequestException', 'INVALID_PARAMETER', `Invalid value for parameter ${name}: ${detail}`);
  }
}

/** Malformed inference input (bad JSON, wrong shape/dtype/names): names the expected input. */
export class InvalidInputError extends TsServeError {
  constructor(message: string) {
    super(400, 'BadRequestException', 'INVALID_INPUT', message);
  }
}

export const TOKEN_AUTH_FAILED_MESSAGE =
  'Token Authorization failed. Token either incorrect, expired, or not provided correctly';
export const TOKEN_API_FAILED_MESSAGE =
  'Token Authentication failed. Token either incorrect, expired, or not provided correctly';

/** Spec §4.5: missing, malformed, wrong or expired key is a 400, as TorchServe answers. */
export class InvalidKeyError extends TsServeError {
  constructor(message: string = TOKEN_AUTH_FAILED_MESSAGE) {
    super(400, 'InvalidKeyException', 'INVALID_KEY', message, { 'WWW-Authenticate': 'Bearer' });
  }
}

/** Manifest problems (spec §3.4 InvalidModelException); the message names the field. */
export class InvalidModelError extends TsServeError {
  constructor(message: string) {
    super(400, 'InvalidModelException', 'INVALID_MODEL', message);
  }
}

/** Unsafe or unreadable archive: traversal, symlink, too many entries, zip bomb, bad ONNX. */
export class InvalidArchiveError extends TsServeError {
  constructor(message: string) {
    super(400, 'InvalidModelException', 'INVALID_ARCHIVE', message);
  }
}

export class DownloadArchiveError extends TsServeError {
  constructor(url: string, detail?: string) {
    super(
      400,
      'DownloadArchiveException',
      'DOWNLOAD_FAILED',
      `Failed to download archive from: ${url}` + (detail ? ` (${detail})` : ''),
    );
  }
}

// ---- 404 ---------------------------------------------------------------------------------------

export const RESOURCE_NOT_FOUND_MESSAGE = 'Requested resource is not found, please refer to API document.';

export class ResourceNotFoundError extends TsServeError {
  constructor(message: string = RESOURCE_NOT_FOUND_MESSAGE) {
    super(404, 'ResourceNotFoundException', 'RESOURCE_NOT_FOUND', message);
  }
}

export class ModelNotFoundError extends TsServeError {
  constructor(name: string) {
    super(404, 'ModelNotFoundException', 'MODEL_NOT_FOUND', `Model not found: ${name}`);
  }
}

/** Location errors share TorchServe's ModelNotFoundException type (spec §6.2). */
export class ModelLocationError extends TsServeError {
  constructor(message: string) {
    super(404, 'ModelNotFoundException', 'MODEL_LOCATION', message);
  }
}

export class ModelVersionNotFoundError extends TsServeError {
  /** `setDefault` uses TorchServe's colon-less variant of the message (spec §3.4). */
  constructor(name: string, version: string, form: 'default' | 'set-default' = 'default') {
    super(
      404,
      'ModelVersionNotFoundException',
      'MODEL_VERSION_NOT_FOUND',
      form === 'set-default'
        ? `Model version ${version} does not exist for model ${name}`
        : `Model version: ${version} does not exist for model: ${name}`,
    );
  }
}

// ---- 401 ---------------------------------------------------------------------------------------

export const AUTHENTICATION_FAILED_MESSAGE = 'Authentication failed: invalid user name or password';

/** Bad HTTP Basic credentials of an internal user (issue #7 "Identities"). */
export class AuthenticationError extends TsServeError {
  constructor() {
    super(401, 'AuthenticationException', 'AUTHENTICATION_FAILED', AUTHENTICATION_FAILED_MESSAGE, {
      'WWW-Authenticate': 'Basic realm="tsserve"',
    });
  }
}

// ---- 403 / 405 / 408 / 409 / 413 / 429 ---------------------------------------------------------

export class InvalidModelVersionError extends TsServeError {
  constructor(name: string) {
    super(403, 'InvalidModelVersionException', 'CANNOT_REMOVE_DEFAULT', `Cannot remove default version for model ${name}`);
  }
}

/**
 * An internal user lacks the ML role an operation needs (issue #7: no ML role, or
 * ml_readonly_access on a write or predict). Checked before the model is looked up, as
 * OpenSearch's Security plugin checks action permissions before the ML plugin runs.
 */
export class AccessDeniedError extends TsServeError {
  constructor(message: string) {
    super(403, 'AccessDeniedException', 'ACCESS_DENIED', message);
  }
}

export const METHOD_NOT_ALLOWED_MESSAGE = 'Requested method is not allowed, please refer to API document.';

export class MethodNotAllowedError extends TsServeError {
  constructor() {
    super(405, 'MethodNotAllowedException', 'METHOD_NOT_ALLOWED', METHOD_NOT_ALLOWED_MESSAGE);
  }
}

export class RequestTimeoutError extends TsServeError {
  constructor(message: string) {
    super(408, 'RequestTimeoutException', 'REQUEST_TIMEOUT', message);
  }
}

export class ConflictError extends TsServeError {
  constructor(message: string) {
    super(409, 'ConflictStatusException', 'CONFLICT', message);
  }
}

export class ModelVersionConflictError extends TsServeError {
  constructor(name: string, version: string) {
    super(409, 'ConflictStatusException', 'MODEL_VERSION_EXISTS', `Model version ${version} is already registered for model ${name}`);
  }
}

export class PayloadTooLargeError extends TsServeError {
  constructor(limitBytes: number) {
    super(413, 'PayloadTooLargeException', 'PAYLOAD_TOO_LARGE', `Request body exceeds max_request_size of ${limitBytes} bytes`);
  }
}

export class TooManyRequestsError extends TsServeError {
  constructor(retryAfterSec: number) {
    super(
      429,
      'TooManyRequestsException',
      'TOO_MANY_AUTH_FAILURES',
      `Too many failed authentication attempts from this address; retry in ${retryAfterSec} seconds`,
      { 'Retry-After': String(retryAfterSec) },
    );
  }
}

// ---- 5xx ---------------------------------------------------------------------------------------

export class InternalServerError extends TsServeError {
  constructor(message: string, status = 500, code = 'INTERNAL') {
    super(status, 'InternalServerException', code, message);
  }
}

/** Spec §8.6: response timeout or worker crash. */
export class WorkerDiedError extends TsServeError {
  constructor(status = 500) {
    super(status, 'InternalServerException', 'WORKER_DIED', 'Worker died.');
  }
}

/** Spec §8.6: the handler threw. TorchServe answers 503 `Prediction failed`; issue #5 asks for a 500
 *  carrying the handler's own message (no stack trace) — see docs/compatibility.md. */
export class PredictionFailedError extends TsServeError {
  constructor(detail?: string, status = 500) {
    super(status, 'InternalServerException', 'PREDICTION_FAILED', detail ? `Prediction failed: ${detail}` : 'Prediction failed');
  }
}

export class WorkerStartError extends TsServeError {
  constructor(name: string, version: string | null, status = 500) {
    super(status, 'InternalServerException', 'WORKER_START_FAILED', `Failed to start workers for model ${name} version: ${version}`);
  }
}

/** Spec §8.4 (no worker) — with the version the quote placement is fixed (docs/compatibility.md). */
export class NoWorkerError extends TsServeError {
  constructor(name: string, version?: string) {
    const who = version ? `Model "${name}" Version "${version}"` : `Model "${name}"`;
    super(
      503,
      'ServiceUnavailableException',
      'NO_WORKER',
      `${who} has no worker to serve inference request. Please use scale workers API to add workers.`,
      { 'Retry-After': '1' },
    );
  }
}

/** Spec §8.4 says "has no worker" for a full queue too; we say what happened (docs/compatibility.md). */
export class QueueFullError extends TsServeError {
  constructor(name: string, version: string, capacity: number) {
    super(
      503,
      'ServiceUnavailableException',
      'QUEUE_FULL',
      `Model "${name}" Version "${version}" job queue is full (job_queue_size ${capacity}). Retry later or scale workers.`,
      { 'Retry-After': '1' },
    );
  }
}

export class ServiceUnavailableError extends TsServeError {
  constructor(message: string, code = 'SERVICE_UNAVAILABLE') {
    super(503, 'ServiceUnavailableException', code, message, { 'Retry-After': '1' });
  }
}

/** Configuration problems stop the start; the message names key, value and source. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Rebuilds an error that crossed a worker/thread boundary (class and extra fields are lost). */
export function errorFromWire(wire: ErrorWire): TsServeError {
  return new TsServeError(wire.status, wire.type, wire.code, wire.message);
}

export function isTsServeError(err: unknown): err is TsServeError {
  return err instanceof TsServeError;
}
