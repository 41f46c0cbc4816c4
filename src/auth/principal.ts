/**
 * Who is calling. Set by the auth hook on every request (request.principal) and read by the
 * services that decide access (groups/access.ts). Pure data: no Fastify types here.
 *
 * - `admin`: holder of the management key (or the inference key, on the inference API), or a
 *   user with the `all_access` role. OpenSearch's "admin" (model-groups.md §1).
 * - `user`: an internal user authenticated with HTTP Basic.
 * - `none`: no identity at all (token authorization disabled and no credentials): treated exactly
 *   like OpenSearch with security disabled (`user == null`, model-groups.md §13): access control
 *   is inactive for this request.
 */
export type Principal =
  | { kind: 'admin'; via: 'management-key' | 'inference-key' | 'api-key' | 'user'; name: string; backendRoles: string[]; roles: string[] }
  | { kind: 'user'; name: string; backendRoles: string[]; roles: string[] }
  | { kind: 'none' };

export const NO_PRINCIPAL: Principal = Object.freeze({ kind: 'none' });

export function keyHolder(via: 'management-key' | 'inference-key' | 'api-key'): Principal {
  return { kind: 'admin', via, name: 'admin', backendRoles: [], roles: ['all_access'] };
}
