/**
 * Errors of the Open Inference Protocol layer and of the KServe v1 model routes: the wire body is
 * `{"error": "<message>"}` (open-inference-protocol.md §5.3), with the KServe runtime's statuses.
 * The common error handler renders every TsServeError through `body()`, status and headers, so
 * these need nothing special there.
 */
import { TsServeError } from '../../errors.js';

export class OipError extends TsServeError {
  constructor(status: number, message: string, code = 'OIP_ERROR', headers: Record<string, string> = {}) {
    super(status, 'OipError', code, message, headers);
  }

  override body(): { error: string } {
    return { error: this.message };
  }
}

export const modelDoesNotExist = (name: string): string => `Model with name ${name} does not exist.`;
export const modelNotReady = (name: string): string => `Model with name ${name} is not ready.`;

/**
 * Any error thrown while serving an OIP route, in OIP's shape. TorchServe's core errors keep their
 * status and message (404 / 503 with Retry-After / 500 / 507, §5.3 "Clone"); a missing model or
 * version says what the KServe runtime says. Errors that are not TsServeErrors become a generic
 * 500 (the caller logs them in full).
 */
export function toOipError(err: unknown, modelName: string | undefined, requestId: string): OipError {
  if (err instanceof OipError) return err;
  if (err instanceof TsServeError) {
    if (err.code === 'MODEL_NOT_FOUND' && modelName !== undefined) return new OipError(404, modelDoesNotExist(modelName), err.code);
    if (err.code === 'MODEL_VERSION_NOT_FOUND' && modelName !== undefined) {
      return new OipError(404, `${modelDoesNotExist(modelName)} ${err.message}`, err.code);
    }
    return new OipError(err.status, err.message, err.code, err.headers);
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return new OipError(status, (err as Error).message, 'BAD_REQUEST');
  return new OipError(500, `Internal server error (request id ${requestId})`, 'INTERNAL');
}
