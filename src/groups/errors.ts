/**
 * Errors of the OpenSearch-shaped APIs (model groups, cluster settings) and of the security
 * plugin's REST API (internal users, role mappings). Each chooses its own wire body; the one
 * error handler sends `err.body()` with `err.status` (src/errors.ts).
 */
import { TsServeError } from '../errors.js';

/** OpenSearch exception type names (model-groups.md §12). */
export type OpenSearchErrorType =
  | 'illegal_argument_exception'
  | 'status_exception'
  | 'parse_exception'
  | 'parsing_exception'
  | 'action_request_validation_exception'
  | 'm_l_validation_exception'
  | 'm_l_resource_not_found_exception'
  | 'null_pointer_exception'
  | 'i_o_exception'
  | 'security_exception'
  | 'query_shard_exception'
  | 'version_conflict_engine_exception'
  | 'search_phase_execution_exception';

/**
 * `{"error": {"root_cause": [{type, reason}], type, reason}, "status": N}` (model-groups.md §12).
 * `code` is our stable machine code (tests and callers check it, never the reason text).
 */
export class OpenSearchError extends TsServeError {
  constructor(status: number, type: OpenSearchErrorType, reason: string, code: string) {
    super(status, type, code, reason);
  }

  override body(): unknown {
    const cause = { type: this.type, reason: this.message };
    return { error: { root_cause: [cause], type: this.type, reason: this.message }, status: this.status };
  }
}

/** 400 `illegal_argument_exception`: every access-control validation message of §4.3 / §5.3. */
export function illegalArgument(reason: string, code = 'ILLEGAL_ARGUMENT'): OpenSearchError {
  return new OpenSearchError(400, 'illegal_argument_exception', reason, code);
}

/** OpenSearchStatusException: an explicit status (403/404/409...). */
export function statusError(status: number, reason: string, code: string): OpenSearchError {
  return new OpenSearchError(status, 'status_exception', reason, code);
}

export function parseError(reason: string): OpenSearchError {
  return new OpenSearchError(400, 'parse_exception', reason, 'PARSE_ERROR');
}

/**
 * The security plugin's REST API answers `{"status": "NOT_FOUND", "message": "..."}` rather
 * than OpenSearch's envelope (internal users, role mappings).
 */
export class SecurityApiError extends TsServeError {
  constructor(status: 400 | 403 | 404 | 409, message: string, code: string) {
    super(status, SECURITY_STATUS[status], code, message);
  }

  override body(): unknown {
    return { status: this.type, message: this.message };
  }
}

const SECURITY_STATUS = { 400: 'BAD_REQUEST', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT' } as const;
