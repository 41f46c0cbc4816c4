/**
 * Admin-only APIs on the management listener, in the shapes of OpenSearch's Security plugin and
 * cluster settings API (issue #7 "Identities", "Model access control"):
 *
 *   PUT|GET|DELETE /_plugins/_security/api/internalusers/{name}    GET .../internalusers (all)
 *   PUT|GET|DELETE /_plugins/_security/api/rolesmapping/{role}     GET .../rolesmapping (all)
 *   PUT|GET        /_cluster/settings   plugins.ml_commons.model_access_control_enabled
 *
 * Only admins (management key holders, users mapped to all_access) pass; anyone else, including
 * an anonymous caller when token authorization is off, gets 403 security_exception.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OpenSearchError, SecurityApiError } from '../groups/errors.js';
import { parseRoleMappingBody, parseUserBody } from '../groups/users.js';
import type { HttpDeps } from './deps.js';
import { sendJson } from './common.js';
import { jsonBody, principalOf } from './groups.js';

const USERS = '/_plugins/_security/api/internalusers';
const MAPPINGS = '/_plugins/_security/api/rolesmapping';

/** 403 unless the caller is an admin; `action` names the permission as the Security plugin does. */
function requireAdmin(request: FastifyRequest, action: string): void {
  const p = principalOf(request);
  if (p.kind === 'admin') return;
  const who = p.kind === 'none' ? 'User [null]' : `User [name=${p.name}, backend_roles=[${p.backendRoles.join(', ')}], requestedTenant=null]`;
  throw new OpenSearchError(403, 'security_exception', `no permissions for [${action}] and ${who}`, 'ADMIN_REQUIRED');
}

/** Security-plugin body decoding: bad JSON is its BAD_REQUEST, not OpenSearch's envelope. */
function securityBody(body: unknown): unknown {
  try {
    return jsonBody(body);
  } catch {
    throw new SecurityApiError(400, 'Could not parse content of request.', 'SECURITY_BAD_JSON');
  }
}

function queryFlag(v: unknown): boolean {
  return v === '' || v === 'true';
}

export async function securityApi(app: FastifyInstance, deps: Pick<HttpDeps, 'groups'>): Promise<void> {
  const { groups } = deps;
  const users = groups.users;

  // ---- internal users ----
  app.get(USERS, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/internalusers');
    return sendJson(reply, 200, await users.listUsers());
  });

  app.put<{ Params: { name: string } }>(`${USERS}/:name`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/internalusers');
    const { name } = request.params;
    const { created } = await users.putUser(name, parseUserBody(securityBody(request.body)));
    return sendJson(reply, created ? 201 : 200, created ? { status: 'CREATED', message: `'${name}' created.` } : { status: 'OK', message: `'${name}' updated.` });
  });

  app.get<{ Params: { name: string } }>(`${USERS}/:name`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/internalusers');
    const { name } = request.params;
    const user = await users.getUser(name);
    if (!user) throw new SecurityApiError(404, `'${name}' not found.`, 'USER_NOT_FOUND');
    return sendJson(reply, 200, { [name]: user });
  });

  app.delete<{ Params: { name: string } }>(`${USERS}/:name`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/internalusers');
    const { name } = request.params;
    if (!(await users.deleteUser(name))) throw new SecurityApiError(404, `'${name}' not found.`, 'USER_NOT_FOUND');
    return sendJson(reply, 200, { status: 'OK', message: `'${name}' deleted.` });
  });

  // ---- role mappings ----
  app.get(MAPPINGS, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/rolesmapping');
    return sendJson(reply, 200, await users.listRoleMappings());
  });

  app.put<{ Params: { role: string } }>(`${MAPPINGS}/:role`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/rolesmapping');
    const { role } = request.params;
    const { created } = await users.putRoleMapping(role, parseRoleMappingBody(securityBody(request.body)));
    return sendJson(reply, created ? 201 : 200, created ? { status: 'CREATED', message: `'${role}' created.` } : { status: 'OK', message: `'${role}' updated.` });
  });

  app.get<{ Params: { role: string } }>(`${MAPPINGS}/:role`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/rolesmapping');
    const { role } = request.params;
    const mapping = await users.getRoleMapping(role);
    if (!mapping) throw new SecurityApiError(404, `'${role}' not found.`, 'ROLE_MAPPING_NOT_FOUND');
    return sendJson(reply, 200, { [role]: mapping });
  });

  app.delete<{ Params: { role: string } }>(`${MAPPINGS}/:role`, async (request, reply) => {
    requireAdmin(request, 'restapi:admin/rolesmapping');
    const { role } = request.params;
    if (!(await users.deleteRoleMapping(role))) throw new SecurityApiError(404, `'${role}' not found.`, 'ROLE_MAPPING_NOT_FOUND');
    return sendJson(reply, 200, { status: 'OK', message: `'${role}' deleted.` });
  });

  // ---- cluster settings ----
  type SettingsQuery = { Querystring: { flat_settings?: string; include_defaults?: string } };

  app.get<SettingsQuery>('/_cluster/settings', async (request, reply) => {
    requireAdmin(request, 'cluster:monitor/state');
    const settings = await groups.getClusterSettings({
      flat: queryFlag(request.query.flat_settings),
      includeDefaults: queryFlag(request.query.include_defaults),
    });
    return sendJson(reply, 200, settings);
  });

  app.put<SettingsQuery>('/_cluster/settings', async (request, reply) => {
    requireAdmin(request, 'cluster:admin/settings/update');
    const body = jsonBody(request.body);
    const result = await groups.putClusterSettings(body, { flat: queryFlag(request.query.flat_settings) });
    return sendJson(reply, 200, result);
  });
}
