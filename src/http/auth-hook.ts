/**
 * The authentication onRequest hook of the inference and management listeners (spec §4.3, §4.5;
 * issue #7 "Identities"). It runs before routing, so a bad key on an unknown path is a 400, not
 * a 404, and on a disabled register endpoint a 400 before the 405 (spec §4.5).
 *
 *   exempt path? ---------------------------------------------> principal none
 *   /token on management? --- API key ok ----------------------> principal api-key (route checks too)
 *   Bearer key of this API ok? --------------------------------> principal key holder (admin)
 *   address over the failure limit? ---------------------------> 429 Retry-After
 *   Basic credentials (and a user authenticator)? -- ok -------> principal user
 *                                                  \-- bad ----> 401 (counted)
 *   token auth on? --------------------------------------------> 400 InvalidKeyException (counted)
 *   token auth off --------------------------------------------> principal none
 *
 * A valid bearer key is checked before the limiter, so a client sharing an address with an
 * attacker keeps working. Basic passwords are guessable, so they are not even tried while the
 * address is over the limit. The Authorization header is never logged.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { NO_PRINCIPAL, keyHolder, type Principal } from '../auth/principal.js';
import type { FailureLimiter } from '../auth/failure-limiter.js';
import type { TokenAuth } from '../auth/token-auth.js';
import {
  AuthenticationError,
  InvalidKeyError,
  TOKEN_API_FAILED_MESSAGE,
  TooManyRequestsError,
  type TsServeError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApiName, MetricsSink } from '../metrics/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set by the auth hook before any handler runs. */
    principal: Principal;
  }
}

/** `host` is the client address (request.ip), so role mappings by `hosts` apply. */
export type AuthenticateBasic = (user: string, password: string, host: string) => Promise<Principal | undefined>;

export type AuthHookOptions = {
  api: 'inference' | 'management';
  /** Undefined when token authorization is disabled. */
  tokenAuth: TokenAuth | undefined;
  /** Checks an internal user's password; omitted = HTTP Basic is not accepted. */
  authenticateBasic?: AuthenticateBasic;
  limiter: FailureLimiter;
  metrics: MetricsSink;
  log: Logger;
};

/**
 * A Fastify onRequest hook in both styles: it calls `done` when it decides at once (exempt path,
 * valid key, rejection), and returns a promise, leaving `done` alone, only while it checks HTTP
 * Basic credentials. Fastify runs either; the common case then costs no promise.
 */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => Promise<void> | undefined;

/** Path of the token API on the management listener (exact match, unlike TorchServe's substring). */
export const TOKEN_PATH = '/token';

/** Adds `request.principal` to an instance (Fastify 5: decorate with null, set per request). */
export function decoratePrincipal(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('principal')) app.decorateRequest('principal', null as never);
}

export function createAuthHook(opts: AuthHookOptions): AuthHook {
  const { api, tokenAuth, authenticateBasic, limiter, metrics } = opts;
  const log = opts.log.child({ api });
  const bearerKind = api === 'management' ? 'management' : 'inference';
  const holderVia = api === 'management' ? 'management-key' : 'inference-key';

  function fail(request: FastifyRequest, metricApi: ApiName, error: TsServeError): never {
    metrics.authFailure(metricApi);
    const retryAfterSec = limiter.recordFailure(request.ip);
    log.info({ reqId: request.id, ip: request.ip, method: request.method, path: pathOf(request.url), code: error.code }, 'authentication failed');
    throw retryAfterSec === undefined ? error : new TooManyRequestsError(retryAfterSec);
  }

  function assertNotBlocked(request: FastifyRequest, metricApi: ApiName): void {
    const retryAfterSec = limiter.blockedForSec(request.ip);
    if (retryAfterSec === undefined) return;
    metrics.authFailure(metricApi);
    throw new TooManyRequestsError(retryAfterSec);
  }

  /** Basic credentials: the only check that waits (for the password hash). */
  async function authenticateUser(request: FastifyRequest, basic: BasicCredentials, check: AuthenticateBasic): Promise<void> {
    assertNotBlocked(request, api);
    const principal = basic.ok ? await check(basic.user, basic.password, request.ip) : undefined;
    if (principal) {
      request.principal = principal;
      return;
    }
    fail(request, api, new AuthenticationError());
  }

  /** Sets the principal or throws; returns a promise only for Basic credentials. */
  function authenticate(request: FastifyRequest): Promise<void> | undefined {
    request.principal = NO_PRINCIPAL;
    const path = pathOf(request.url);
    if (isExempt(api, request.method, path)) return undefined;

    const header = request.headers.authorization;

    if (api === 'management' && path === TOKEN_PATH) {
      // Disabled: the token route answers 404 (spec §4.1).
      if (!tokenAuth) return undefined;
      if (tokenAuth.check('API', header)) {
        request.principal = keyHolder('api-key');
        return undefined;
      }
      assertNotBlocked(request, 'token');
      fail(request, 'token', new InvalidKeyError(TOKEN_API_FAILED_MESSAGE));
    }

    if (tokenAuth && tokenAuth.check(bearerKind, header)) {
      request.principal = keyHolder(holderVia);
      return undefined;
    }

    const basic = authenticateBasic ? parseBasic(header) : undefined;
    if (basic !== undefined && authenticateBasic) return authenticateUser(request, basic, authenticateBasic);

    // Disabled: no key needed, a bearer header (if any) is ignored.
    if (!tokenAuth) return undefined;
    assertNotBlocked(request, api);
    fail(request, api, new InvalidKeyError());
  }

  return function authHook(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): Promise<void> | undefined {
    let pending: Promise<void> | undefined;
    try {
      pending = authenticate(request);
    } catch (err) {
      done(err as Error);
      return undefined;
    }
    if (pending !== undefined) return pending; // Fastify waits for it and reports its rejection
    done();
    return undefined;
  };
}

/**
 * Paths that need no credentials: the API description (spec §3.1) and, a deliberate difference
 * from TorchServe (docs/compatibility.md), the inference health endpoints so load balancers and
 * probes work with authorization on. Handlers of these paths must not use the principal.
 */
export function isExempt(api: 'inference' | 'management', method: string, path: string): boolean {
  if (path === '/api-description') return true;
  if (path === '/' && method === 'OPTIONS') return true;
  if (api === 'inference' && (method === 'GET' || method === 'HEAD')) {
    return path === '/ping' || path === '/v2/health/live' || path === '/v2/health/ready';
  }
  return false;
}

/** URL path without the query, trailing slashes dropped like TorchServe's split (spec §3.1). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  let p = q === -1 ? url : url.slice(0, q);
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

type BasicCredentials = { ok: true; user: string; password: string } | { ok: false };

/** undefined = not the Basic scheme; { ok: false } = Basic but malformed. RFC 7617: scheme is case-insensitive. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Basic(?:\s+(.*))?$/i.exec(header.trim());
  if (!m) return undefined;
  const b64 = (m[1] ?? '').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return { ok: false };
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { ok: false };
  return { ok: true, user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
