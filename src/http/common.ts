/**
 * What every listener does regardless of its API (spec §3.1, §3.3, §3.5, §3.6, §12):
 *
 *   onRequest   x-request-id (a sane client id is echoed, else a UUID), TorchServe's no-cache headers
 *   parsing     every content type arrives as a raw Buffer in `request.body` (max_request_size);
 *               multipart/form-data is left to @fastify/multipart (`request.parts()`), same limit
 *   routing     unknown path -> 404 ResourceNotFoundException; known path, other method -> 405
 *   onSend      CORS headers from the config, unless the route set them
 *   errors      error-handler.ts; JSON pretty-printed as TorchServe (2 spaces, trailing newline)
 *   onResponse  one access-log line: `/127.0.0.1:53514 "GET /models HTTP/1.1" 200 3 reqId=<id>`
 *
 * `createListenerApp` builds a root Fastify instance with all of it; API plugins are registered
 * on top (server.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import multipart from '@fastify/multipart';
import type { Config } from '../config/schema.js';
import { MethodNotAllowedError, ResourceNotFoundError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import { lazyChildFactory, type LazyChildFactory } from '../logging/lazy-child.js';
import type { MetricsSink } from '../metrics/types.js';
import { installErrorHandler, prettyJson } from './error-handler.js';

export { prettyJson } from './error-handler.js';
export { redactUrl } from '../logger.js';

/** TorchServe's cache headers on every response (NettyUtils, spec §3.3). */
export const NO_CACHE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  pragma: 'no-cache',
  'cache-control': 'no-cache; no-store, must-revalidate, private',
  expires: 'Thu, 01 Jan 1970 00:00:00 UTC',
});

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A client's x-request-id if it is a sane token (≤128 of [A-Za-z0-9._:-]), else a fresh UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** TorchServe's JSON response (spec §3.3): status, `application/json`, pretty body. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  // A Buffer keeps the content type exactly `application/json` (a string would get a charset).
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(prettyJson(body)));
}

/** Java's InetSocketAddress.toString(): `/127.0.0.1:53514`. */
export function formatRemote(address: string | undefined, port: number | undefined): string {
  return `/${address ?? 'unknown'}:${port ?? 0}`;
}

/** One access-log line (spec §12) plus the request id. */
export function formatAccessLine(a: {
  remote: string;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  durationMs: number;
  requestId: string;
}): string {
  return `${a.remote} "${a.method} ${redactUrl(a.url)} HTTP/${a.httpVersion}" ${a.status} ${Math.round(a.durationMs)} reqId=${a.requestId}`;
}

export type ListenerAppOptions = {
  /** Which API(s) this listener serves, for logs. */
  name: string;
  config: Config;
  /** Server log (ts_log). */
  log: Logger;
  /** Access log; one line per response. */
  accessLog: Logger;
  /** TLS key and certificate (PEM) for an https listener. */
  https?: { key: Buffer; cert: Buffer };
  /**
   * Counts the answers to malformed HTTP, which never reach Fastify's hooks (`countResponses`
   * counts every other response).
   */
  metrics?: Pick<MetricsSink, 'httpResponse'>;
};

/**
 * A root Fastify instance with the common behaviour installed. Register API plugins on it, then
 * `await app.listen(...)`. The multipart plugin is registered (await `app.ready()` or `listen`).
 */
export function createListenerApp(opts: ListenerAppOptions): FastifyInstance {
  const { config } = opts;
  const lazyChildren = new WeakMap<Logger, LazyChildFactory>();
  const app = Fastify({
    loggerInstance: opts.log.child({ api: opts.name }),
    // The access log replaces Fastify's per-request lines.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    // request.log (with reqId) is made when a request first logs, not for every request.
    childLoggerFactory(logger, bindings, childOpts) {
      if (Object.keys(childOpts).length > 0) return logger.child(bindings, childOpts);
      let make = lazyChildren.get(logger as Logger);
      if (make === undefined) lazyChildren.set(logger as Logger, (make = lazyChildFactory(logger as Logger)));
      return make(bindings);
    },
    requestIdHeader: false,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    bodyLimit: config.maxRequestSizeBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...(opts.https ? { https: { key: opts.https.key, cert: opts.https.cert, minVersion: 'TLSv1.2' as const } } : {}),
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      const status = answerClientError(err, socket);
      if (status === undefined) return;
      opts.metrics?.httpResponse(status);
      // spec §12: TorchServe logs an undecodable request as Netty's stand-in, GET /bad-request.
      if (opts.accessLog.isLevelEnabled('info')) {
        const line = formatAccessLine({
          remote: formatRemote(socket.remoteAddress, socket.remotePort),
          method: 'GET',
          url: '/bad-request',
          httpVersion: '1.1',
          status,
          durationMs: 0,
          requestId: randomUUID(),
        });
        opts.accessLog.info(line);
      }
    },
  }) as unknown as FastifyInstance;
  installCommon(app, { config, accessLog: opts.accessLog });
  return app;
}

/**
 * Installs the common behaviour on a root instance (also usable on a bare `Fastify()` in tests).
 * Must run before any route is added: it tracks routes to tell 405 from 404.
 */
export function installCommon(app: FastifyInstance, opts: { config: Config; accessLog: Logger }): void {
  const { config, accessLog } = opts;
  const maxRequestSizeBytes = config.maxRequestSizeBytes;

  // --- headers
  const cors: Array<[string, string]> = [];
  if (config.corsAllowedOrigin) cors.push(['access-control-allow-origin', config.corsAllowedOrigin]);
  if (config.corsAllowedMethods) cors.push(['access-control-allow-methods', config.corsAllowedMethods]);
  if (config.corsAllowedHeaders) cors.push(['access-control-allow-headers', config.corsAllowedHeaders]);

  // The client address as the access line shows it, once per connection (keep-alive serves many
  // requests on one socket). Read while the request is live: a closed socket forgets its peer.
  const remotes = new WeakMap<Socket, string>();
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    for (const name in NO_CACHE_HEADERS) reply.header(name, NO_CACHE_HEADERS[name]);
    const socket = request.raw.socket as Socket | null;
    if (socket !== null && !remotes.has(socket)) remotes.set(socket, formatRemote(socket.remoteAddress, socket.remotePort));
    done();
  });
  if (cors.length > 0) {
    app.addHook('onSend', (_request, reply, payload, done) => {
      for (const [name, value] of cors) if (!reply.hasHeader(name)) reply.header(name, value);
      done(null, payload);
    });
  }

  // --- bodies: raw bytes for every content type; multipart streamed by @fastify/multipart
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxRequestSizeBytes }, (_request, body, done) => {
    done(null, body);
  });
  void app.register(multipart, {
    limits: {
      fileSize: maxRequestSizeBytes,
      fieldSize: maxRequestSizeBytes,
      fields: 1000,
      files: 1000,
      parts: 2000,
      headerPairs: 2000,
    },
  });

  // --- JSON
  app.setReplySerializer((payload) => prettyJson(payload));

  // --- 404 / 405
  const routes: RegExp[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    routes.push(routePattern(route.url ?? ''));
  });
  app.setNotFoundHandler((request: FastifyRequest) => {
    const path = pathWithoutQuery(request.url);
    if (routes.some((r) => r.test(path))) throw new MethodNotAllowedError();
    throw new ResourceNotFoundError();
  });

  installErrorHandler(app, { maxRequestSizeBytes });

  // --- access log
  app.addHook('onResponse', (request, reply, done) => {
    if (!accessLog.isLevelEnabled('info')) {
      done();
      return;
    }
    const socket = request.raw.socket as Socket | null;
    accessLog.info(
      formatAccessLine({
        remote: (socket !== null ? remotes.get(socket) : undefined) ?? formatRemote(request.ip, undefined),
        method: request.method,
        url: request.url,
        httpVersion: request.raw.httpVersion,
        status: reply.statusCode,
        durationMs: reply.elapsedTime,
        requestId: request.id,
      }),
    );
    done();
  });
}

function pathWithoutQuery(url: string): string {
  const q = url.indexOf('?');
  let p = q === -1 ? url : url.slice(0, q);
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/**
 * A find-my-way route path as a regular expression on concrete paths: `:name` (optionally with a
 * `(regex)`) is one segment, `::` a literal colon, `*` the rest. Trailing slashes are ignored.
 */
export function routePattern(url: string): RegExp {
  let re = '';
  for (let i = 0; i < url.length; i++) {
    const c = url[i];
    if (c === ':' && url[i + 1] === ':') {
      re += ':';
      i++;
    } else if (c === ':') {
      let j = i + 1;
      // find-my-way reads `::` inside a parameter name as part of the name.
      while (j < url.length && (/[A-Za-z0-9_]/.test(url[j]) || (url[j] === ':' && url[j + 1] === ':'))) j += url[j] === ':' ? 2 : 1;
      if (url[j] === '(') {
        let depth = 0;
        for (; j < url.length; j++) {
          if (url[j] === '(') depth++;
          else if (url[j] === ')' && --depth === 0) {
            j++;
            break;
          }
        }
      }
      re += '[^/]+?';
      i = j - 1;
    } else if (c === '*') {
      re += '.*';
    } else {
      re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  while (re.length > 1 && re.endsWith('/')) re = re.slice(0, -1);
  return new RegExp(`^${re}/?$`);
}

/**
 * Malformed HTTP (spec §3.5): 400 `Invalid HTTP message.` in TorchServe's JSON, then close.
 * Returns the status sent, or undefined when the client was already gone.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): number | undefined {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = timeout ? 408 : 400;
  const body = prettyJson(
    timeout
      ? { code: 408, type: 'RequestTimeoutException', message: 'Request timed out.' }
      : { code: 400, type: 'BadRequestException', message: 'Invalid HTTP message.' },
  );
  socket.end(
    `HTTP/1.1 ${status} ${timeout ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  return status;
}
