/**
 * A Fastify instance set up like the management listener for the group and security plugins:
 * raw-Buffer bodies, request.principal (from an `x-test-principal` header naming a test identity),
 * the server's error handler, and a real Groups service on an in-memory store.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { NO_PRINCIPAL, keyHolder, type Principal } from '../../src/auth/principal.js';
import { Groups } from '../../src/groups/groups.js';
import { decoratePrincipal } from '../../src/http/auth-hook.js';
import { installErrorHandler } from '../../src/http/error-handler.js';
import { groupsApi } from '../../src/http/groups.js';
import { securityApi } from '../../src/http/security.js';
import { silentLogger } from '../../src/logger.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { MetadataStore } from '../../src/store/store.js';

export const PRINCIPALS: Record<string, Principal> = {
  admin: keyHolder('management-key'),
  alice: { kind: 'user', name: 'alice', backendRoles: ['analyst'], roles: ['ml_full_access'] },
  bob: { kind: 'user', name: 'bob', backendRoles: ['human-resources'], roles: ['ml_full_access'] },
  carol: { kind: 'user', name: 'carol', backendRoles: ['analyst', 'human-resources'], roles: ['ml_full_access'] },
  eve: { kind: 'user', name: 'eve', backendRoles: ['analyst'], roles: [] },
  none: NO_PRINCIPAL,
};

export type Harness = { app: FastifyInstance; groups: Groups; store: MetadataStore };

export async function buildGroupsHarness(opts: { enabled?: boolean; maxRequestSizeBytes?: number } = {}): Promise<Harness> {
  const store = openSqliteStore(':memory:', silentLogger());
  const groups = new Groups({ store, log: silentLogger(), config: { modelAccessControlEnabled: opts.enabled ?? true } });
  await groups.init();
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  decoratePrincipal(app);
  app.addHook('onRequest', async (request) => {
    const who = request.headers['x-test-principal'];
    request.principal = PRINCIPALS[typeof who === 'string' ? who : 'none'] ?? NO_PRINCIPAL;
  });
  installErrorHandler(app, { maxRequestSizeBytes: 1 << 20 });
  await app.register(groupsApi, { groups, ...(opts.maxRequestSizeBytes ? { config: { maxRequestSizeBytes: opts.maxRequestSizeBytes } } : {}) });
  await app.register(securityApi, { groups });
  app.addHook('onClose', async () => store.close());
  await app.ready();
  return { app, groups, store };
}

export const as = (who: keyof typeof PRINCIPALS, extra: Record<string, string> = {}) => ({ 'x-test-principal': who, ...extra });
