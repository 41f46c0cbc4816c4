/** STYLE.md "Errors": one table pins every error class to its status, type and code, and fails if
 *  a class is added to src/errors.ts without an entry here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as errors from '../../src/errors.js';
import { TsServeError } from '../../src/errors.js';

type Row = { make: () => TsServeError; status: number; type: string; code: string; message?: string };

const TABLE: Record<string, Row> = {
  BadRequestError: { make: () => new errors.BadRequestError('x'), status: 400, type: 'BadRequestException', code: 'BAD_REQUEST' },
  MissingParameterError: { make: () => new errors.MissingParameterError('url'), status: 400, type: 'BadRequestException', code: 'MISSING_PARAMETER', message: 'Parameter url is required.' },
  InvalidParameterError: { make: () => new errors.InvalidParameterError('limit', 'must be an integer'), status: 400, type: 'BadRequestException', code: 'INVALID_PARAMETER' },
  InvalidInputError: { make: () => new errors.InvalidInputError('x'), status: 400, type: 'BadRequestException', code: 'INVALID_INPUT' },
  InvalidKeyError: {
    make: () => new errors.InvalidKeyError(), status: 400, type: 'InvalidKeyException', code: 'INVALID_KEY',
    message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly',
  },
  InvalidModelError: { make: () => new errors.InvalidModelError('Model name is not defined.'), status: 400, type: 'InvalidModelException', code: 'INVALID_MODEL' },
  InvalidArchiveError: { make: () => new errors.InvalidArchiveError('x'), status: 400, type: 'InvalidModelException', code: 'INVALID_ARCHIVE' },
  DownloadArchiveError: { make: () => new errors.DownloadArchiveError('http://h/x.mar'), status: 400, type: 'DownloadArchiveException', code: 'DOWNLOAD_FAILED', message: 'Failed to download archive from: http://h/x.mar' },
  ResourceNotFoundError: { make: () => new errors.ResourceNotFoundError(), status: 404, type: 'ResourceNotFoundException', code: 'RESOURCE_NOT_FOUND', message: 'Requested resource is not found, please refer to API document.' },
  ModelNotFoundError: { make: () => new errors.ModelNotFoundError('m'), status: 404, type: 'ModelNotFoundException', code: 'MODEL_NOT_FOUND', message: 'Model not found: m' },
  ModelLocationError: { make: () => new errors.ModelLocationError('empty url'), status: 404, type: 'ModelNotFoundException', code: 'MODEL_LOCATION' },
  ModelVersionNotFoundError: { make: () => new errors.ModelVersionNotFoundError('m', '2.0'), status: 404, type: 'ModelVersionNotFoundException', code: 'MODEL_VERSION_NOT_FOUND', message: 'Model version: 2.0 does not exist for model: m' },
  AuthenticationError: {
    make: () => new errors.AuthenticationError(), status: 401, type: 'AuthenticationException', code: 'AUTHENTICATION_FAILED',
    message: 'Authentication failed: invalid user name or password',
  },
  InvalidModelVersionError: { make: () => new errors.InvalidModelVersionError('m'), status: 403, type: 'InvalidModelVersionException', code: 'CANNOT_REMOVE_DEFAULT', message: 'Cannot remove default version for model m' },
  AccessDeniedError: { make: () => new errors.AccessDeniedError('no permissions for [x]'), status: 403, type: 'AccessDeniedException', code: 'ACCESS_DENIED', message: 'no permissions for [x]' },
  MethodNotAllowedError: { make: () => new errors.MethodNotAllowedError(), status: 405, type: 'MethodNotAllowedException', code: 'METHOD_NOT_ALLOWED', message: 'Requested method is not allowed, please refer to API document.' },
  RequestTimeoutError: { make: () => new errors.RequestTimeoutError('Timed out while cleaning resources: m'), status: 408, type: 'RequestTimeoutException', code: 'REQUEST_TIMEOUT' },
  ConflictError: { make: () => new errors.ConflictError('x'), status: 409, type: 'ConflictStatusException', code: 'CONFLICT' },
  ModelVersionConflictError: { make: () => new errors.ModelVersionConflictError('m', '1.0'), status: 409, type: 'ConflictStatusException', code: 'MODEL_VERSION_EXISTS', message: 'Model version 1.0 is already registered for model m' },
  PayloadTooLargeError: { make: () => new errors.PayloadTooLargeError(10), status: 413, type: 'PayloadTooLargeException', code: 'PAYLOAD_TOO_LARGE' },
  TooManyRequestsError: { make: () => new errors.TooManyRequestsError(30), status: 429, type: 'TooManyRequestsException', code: 'TOO_MANY_AUTH_FAILURES' },
  InternalServerError: { make: () => new errors.InternalServerError('x'), status: 500, type: 'InternalServerException', code: 'INTERNAL' },
  WorkerDiedError: { make: () => new errors.WorkerDiedError(), status: 500, type: 'InternalServerException', code: 'WORKER_DIED', message: 'Worker died.' },
  PredictionFailedError: { make: () => new errors.PredictionFailedError('boom'), status: 500, type: 'InternalServerException', code: 'PREDICTION_FAILED', message: 'Prediction failed: boom' },
  WorkerStartError: { make: () => new errors.WorkerStartError('m', '1.0'), status: 500, type: 'InternalServerException', code: 'WORKER_START_FAILED', message: 'Failed to start workers for model m version: 1.0' },
  NoWorkerError: { make: () => new errors.NoWorkerError('m'), status: 503, type: 'ServiceUnavailableException', code: 'NO_WORKER' },
  QueueFullError: { make: () => new errors.QueueFullError('m', '1.0', 100), status: 503, type: 'ServiceUnavailableException', code: 'QUEUE_FULL' },
  ServiceUnavailableError: { make: () => new errors.ServiceUnavailableError('x'), status: 503, type: 'ServiceUnavailableException', code: 'SERVICE_UNAVAILABLE' },
};

test('every error class has a row, and each row pins status, type, code', () => {
  const classes = Object.entries(errors)
    .filter(([, v]) => typeof v === 'function' && v.prototype instanceof TsServeError)
    .map(([k]) => k)
    .sort();
  assert.deepEqual(classes, Object.keys(TABLE).sort(), 'add a row to TABLE for every TsServeError subclass');
  for (const [name, row] of Object.entries(TABLE)) {
    const err = row.make();
    assert.equal(err.status, row.status, name);
    assert.equal(err.type, row.type, name);
    assert.equal(err.code, row.code, name);
    if (row.message) assert.equal(err.message, row.message, name);
    assert.deepEqual(err.body(), { code: row.status, type: row.type, message: err.message }, name);
  }
});

test('a full queue says the queue is full; 503s carry Retry-After', () => {
  const err = new errors.QueueFullError('mlp', '1.0', 100);
  assert.match(err.message, /queue is full/);
  assert.equal(err.headers['Retry-After'], '1');
  assert.equal(new errors.NoWorkerError('mlp').headers['Retry-After'], '1');
});

test('with a version, the no-worker message quotes name and version properly', () => {
  assert.match(new errors.NoWorkerError('mlp', '2.0').message, /^Model "mlp" Version "2.0" has no worker/);
});

test('auth failures carry WWW-Authenticate: Bearer', () => {
  assert.equal(new errors.InvalidKeyError().headers['WWW-Authenticate'], 'Bearer');
  assert.equal(new errors.AuthenticationError().headers['WWW-Authenticate'], 'Basic realm="tsserve"');
});

test('errors survive the worker boundary as wire data', () => {
  const wire = new errors.WorkerDiedError().toWire();
  const back = errors.errorFromWire(structuredClone(wire));
  assert.equal(back.status, 500);
  assert.equal(back.message, 'Worker died.');
  assert.equal(back.code, 'WORKER_DIED');
});
