/**
 * Token API on the management listener (spec §4.4): `/token?type=management|inference` with
 * `Authorization: Bearer <API key>` replaces that key and answers the new entry as JSON in the key
 * file's shape (TorchServe answers an empty line; docs/compatibility.md). Any method is accepted,
 * as in TorchServe. Disabled token authorization: 404 (spec §4.1).
 *
 * The auth hook already requires the API key on this exact path; the route checks it again so it
 * is safe on its own.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidKeyError, ResourceNotFoundError, TOKEN_API_FAILED_MESSAGE } from '../errors.js';
import type { HttpDeps } from './deps.js';
import { TOKEN_PATH } from './auth-hook.js';

export type TokenApiDeps = Pick<HttpDeps, 'tokenAuth' | 'metrics'>;

export async function tokenApi(app: FastifyInstance, deps: TokenApiDeps): Promise<void> {
  app.all(TOKEN_PATH, async (request, reply) => {
    const { tokenAuth } = deps;
    if (!tokenAuth) throw new ResourceNotFoundError();
    if (!tokenAuth.check('API', request.headers.authorization)) {
      deps.metrics.authFailure('token');
      throw new InvalidKeyError(TOKEN_API_FAILED_MESSAGE);
    }
    const type = (request.query as Record<string, unknown> | undefined)?.['type'];
    if (type !== 'management' && type !== 'inference') {
      request.log.warn('failed to update key file: missing or bad type');
      throw new InvalidKeyError(TOKEN_API_FAILED_MESSAGE);
    }
    const entry = await tokenAuth.regenerate(type);
    return reply.code(200).type('application/json').send(entry);
  });
}
