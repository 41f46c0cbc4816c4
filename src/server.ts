/**
 * Composition root (STYLE.md "Wiring"): builds the services from the Config, the listeners on top,
 * and closes everything in reverse order.
 *
 *   start:  store -> metrics -> engine -> groups -> registry -> auth
 *           -> startup models (submitted; workers load in the background)
 *           -> listeners (inference, management, metrics) -> startup snapshot
 *   close:  listeners stop accepting and drain (bounded) -> shutdown snapshot
 *           -> auth -> registry (unregisters models) -> groups -> engine -> metrics -> store
 *
 * To add an HTTP plugin, add it to API_PLUGINS under its listener.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FailureLimiter } from './auth/failure-limiter.js';
import { TokenAuth, logAuthMode } from './auth/token-auth.js';
import type { Config } from './config/schema.js';
import { parseLoadModels } from './config/load.js';
import { Groups } from './groups/groups.js';
import { createAuthHook, decoratePrincipal } from './http/auth-hook.js';
import { createListenerApp } from './http/common.js';
import type { HttpDeps } from './http/deps.js';
import { groupsApi } from './http/groups.js';
import { inferenceApi } from './http/inference.js';
import { bindLine, listenOn, loadTls, planListeners, type ApiKind } from './http/listeners.js';
import { managementApi } from './http/management.js';
import { countResponses, metricsApi, OPENAPI_INFO } from './http/metrics.js';
import { installApiDescription } from './http/openapi.js';
import { securityApi } from './http/security.js';
import { tokenApi } from './http/token.js';
import type { Logger } from './logger.js';
import type { Loggers } from './logging/create-loggers.js';
import { MetricsRegistry } from './metrics/metrics.js';
import { Registry } from './registry/registry.js';
import { openSqliteStore } from './store/sqlite-store.js';
import { createEngine } from './workers/engine.js';
import type { Engine } from './workers/types.js';
import { packageVersion } from './archive/package-version.js';

/** A Fastify plugin of one API; every plugin receives the same HttpDeps. */
type ApiPlugin = (app: FastifyInstance, deps: HttpDeps) => Promise<void>;

/** Which plugins each listener serves. Wiring one more plugin is one entry here. */
const API_PLUGINS: Readonly<Record<ApiKind, readonly ApiPlugin[]>> = {
  inference: [inferenceApi],
  management: [managementApi, groupsApi, securityApi, tokenApi],
  metrics: [metricsApi],
};

/** Listeners behind the auth hook (spec §3.1: the metrics listener never needs a token). */
const AUTHENTICATED: Readonly<Record<ApiKind, 'inference' | 'management' | undefined>> = {
  inference: 'inference',
  management: 'management',
  metrics: undefined,
};

export type RunningServer = {
  /** Real URL of each listener (a port of 0 resolved); metrics only when enable_metrics_api. */
  readonly addresses: Readonly<{ inference: string; management: string; metrics?: string }>;
  /** TorchServe's `Inference API bind to: http://127.0.0.1:8080` lines, one per listener. */
  readonly bindLines: readonly string[];
  /** Stops accepting, drains in-flight requests (bounded), then closes the services. Idempotent. */
  close(): Promise<void>;
};

export type ServerOptions = {
  /** Longest wait for in-flight requests when closing (default 30 s); then connections are cut. */
  drainTimeoutMs?: number;
  /** Engine to use instead of the worker-thread pool (tests pass a fake). */
  engine?: Engine;
};

/** Closes what was opened, newest first; each step's failure is logged, not fatal to the others. */
class CloseStack {
  readonly #steps: Array<{ name: string; close: () => Promise<unknown> | unknown }> = [];
  readonly #log: Logger;
  constructor(log: Logger) {
    this.#log = log;
  }
  push(name: string, close: () => Promise<unknown> | unknown): void {
    this.#steps.push({ name, close });
  }
  async closeAll(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step.close();
      } catch (err) {
        this.#log.error({ err, step: step.name }, 'close failed');
      }
    }
  }
}

/**
 * Starts the server described by `config`. Rejects (after closing what it opened) if any part
 * cannot start: store, key file, snapshot restore, TLS files, a busy port.
 */
export async function startServer(
  config: Config,
  loggers: Loggers,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const log = loggers.server;
  const services = new CloseStack(log);
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  logConfiguration(log, config);

  // Addresses and TLS files first: a typo there should not cost a model load.
  const plan = planListeners(config);
  const tls = loadTls(config, plan);

  const apps: Array<{ api: ApiKind; app: FastifyInstance }> = [];
  try {
    // ---- services, in dependency order
    const store = openSqliteStore(path.resolve(config.workDir, config.metadataStore), log);
    services.push('store', () => store.close());

    const metrics = new MetricsRegistry({ config, log, metricsLog: loggers.metrics, diskPath: config.workDir });
    services.push('metrics', () => metrics.close());

    const engine =
      options.engine ?? createEngine({ log, modelLog: loggers.model, metrics, cpuCount: config.cpuCount });
    services.push('engine', () => engine.close());

    const groups = new Groups({ store, log, config });
    await groups.init();
    services.push('groups', () => groups.close());

    const registry = new Registry({ config, log, engine, metrics, groups });
    services.push('registry', () => registry.close());

    const tokenAuth = config.disableTokenAuthorization
      ? undefined
      : await TokenAuth.create({ workDir: config.workDir, expirationMin: config.tokenExpirationMin, log });
    if (tokenAuth) services.push('token auth', () => tokenAuth.close());
    logAuthMode(log, tokenAuth);
    const limiter = new FailureLimiter({ limit: config.authFailureLimit, windowSec: config.authFailureWindowSec });

    // ---- startup models (spec §6.3, §11): registered before the listeners open, as TorchServe
    const startup = await registry.loadStartupModels();
    log.info({ loaded: startup.loaded, failed: startup.failed }, 'startup models submitted');

    // ---- listeners
    const deps: HttpDeps = { config, log, registry, tokenAuth, groups, metrics, metricsRegistry: metrics };
    for (const { api, address } of plan) {
      const app = createListenerApp({
        name: api,
        config,
        log,
        accessLog: loggers.access,
        metrics,
        ...(address.scheme === 'https' && tls ? { https: tls } : {}),
      });
      apps.push({ api, app });
      countResponses(app, metrics);
      // Before the plugins: it collects their routes with an onRoute hook (spec §3.7). The metrics
      // plugin documents its one route itself.
      if (api !== 'metrics') installApiDescription(app, OPENAPI_INFO);
      const authApi = AUTHENTICATED[api];
      if (authApi) {
        decoratePrincipal(app);
        app.addHook(
          'onRequest',
          createAuthHook({
            api: authApi,
            tokenAuth,
            authenticateBasic: (user, password, host) => groups.users.authenticateBasic(user, password, host),
            limiter,
            metrics,
            log,
          }),
        );
      }
      for (const plugin of API_PLUGINS[api]) await app.register(plugin, deps);
    }
    const urls: Partial<Record<ApiKind, string>> = {};
    const bindLines: string[] = [];
    for (let i = 0; i < plan.length; i++) {
      const url = await listenOn(apps[i].app, plan[i].address);
      urls[plan[i].api] = url;
      bindLines.push(bindLine(plan[i].api, url));
      log.info(bindLine(plan[i].api, url));
    }
    await registry.writeSnapshot('startup');

    let closing: Promise<void> | undefined;
    return {
      addresses: Object.freeze({ inference: urls.inference!, management: urls.management!, ...(urls.metrics ? { metrics: urls.metrics } : {}) }),
      bindLines: Object.freeze(bindLines),
      close() {
        closing ??= (async () => {
          log.info('stopping');
          await closeListeners(apps, drainTimeoutMs, log);
          await registry.writeSnapshot('shutdown').catch((err: unknown) => log.error({ err }, 'shutdown snapshot not written'));
          await services.closeAll();
          log.info('Torchserve stopped.');
        })();
        return closing;
      },
    };
  } catch (err) {
    await closeListeners(apps, 1000, log);
    await services.closeAll();
    throw err;
  }
}

/** Stops accepting on every listener and waits for in-flight requests, at most `timeoutMs`. */
async function closeListeners(apps: ReadonlyArray<{ api: ApiKind; app: FastifyInstance }>, timeoutMs: number, log: Logger): Promise<void> {
  await Promise.all(
    apps.map(async ({ api, app }) => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
        timer.unref();
      });
      const closed = app.close().then(() => 'closed' as const);
      if ((await Promise.race([closed, timedOut])) === 'timeout') {
        log.warn({ api, timeoutMs }, 'in-flight requests did not finish in time; closing connections');
        app.server.closeAllConnections();
        await closed.catch(() => {});
      }
      clearTimeout(timer);
    }),
  ).catch((err: unknown) => log.error({ err }, 'listener close failed'));
}

/** The startup dump of spec §1.3 (the labels that mean something for tsserve). */
function logConfiguration(log: Logger, config: Config): void {
  const models = parseLoadModels(config.loadModels);
  const lines: Array<[string, unknown]> = [
    ['TSServe version', packageVersion()],
    ['Current directory', config.workDir],
    ['Number of CPUs', config.cpuCount],
    ['Config file', config.configFile],
    ['Inference address', config.inferenceAddress],
    ['Management address', config.managementAddress],
    ['Metrics address', config.metricsAddress],
    ['Model Store', config.modelStore],
    ['Initial Models', models === 'all' ? 'ALL' : models.map((m) => (m.name ? `${m.name}=${m.location}` : m.location)).join(',')],
    ['Log dir', config.logDir],
    ['Metrics dir', config.metricsLogDir],
    ['Default workers per model', config.defaultWorkersPerModel],
    ['Maximum Response Size', config.maxResponseSizeBytes],
    ['Maximum Request Size', config.maxRequestSizeBytes],
    ['Allowed Urls', config.allowedUrls.join(',')],
    ['Enable metrics API', config.enableMetricsApi],
    ['Metrics mode', config.metricsMode],
    ['Disable system metrics', config.disableSystemMetrics],
    ['Model config', JSON.stringify(config.models)],
    ['Model API enabled', config.enableModelApi],
    ['Token authorization disabled', config.disableTokenAuthorization],
    ['Model access control enabled', config.modelAccessControlEnabled],
    ['Config snapshots', config.snapshotsEnabled],
  ];
  const text = lines.map(([label, v]) => `${label}: ${v === undefined || v === '' ? 'N/A' : String(v)}`).join('\n');
  log.info({ configFile: config.configFile }, `\n${text}`);
}
