/**
 * An error answer for one request, rebuilt on the main thread from the worker's wire form
 * (STYLE.md "Errors": class and stack do not cross postMessage). It keeps the protocol the
 * request came in on, and renders OIP's `{"error": "<message>"}` body for `oip-v2` requests
 * (open-inference-protocol.md §5.3); other protocols get TorchServe's `{code, type, message}`.
 */
import { TsServeError } from '../errors.js';
import type { RequestErrorWire } from './messages.js';
import type { Protocol } from './types.js';

export class InferenceError extends TsServeError {
  readonly protocol: Protocol;

  constructor(wire: RequestErrorWire) {
    super(wire.status, wire.type, wire.code, wire.message);
    this.protocol = wire.protocol;
  }

  override body(): unknown {
    return this.protocol === 'oip-v2' ? { error: this.message } : super.body();
  }
}

export function inferenceErrorFromWire(wire: RequestErrorWire): InferenceError {
  return new InferenceError(wire);
}
