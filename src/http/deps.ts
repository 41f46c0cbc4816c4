/**
 * What every HTTP plugin receives (STYLE.md "Wiring": dependencies as plugin options, no
 * singletons). Built once in server.ts.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { MetricsSink } from '../metrics/types.js';
import type { Registry } from '../registry/registry.js';
import type { TokenAuth } from '../auth/token-auth.js';
import type { Groups } from '../groups/groups.js';
import type { MetricsRegistry } from '../metrics/metrics.js';

export type HttpDeps = {
  config: Config;
  log: Logger;
  registry: Registry;
  /** Undefined when token authorization is disabled. */
  tokenAuth: TokenAuth | undefined;
  groups: Groups;
  metrics: MetricsSink;
  /** Prometheus registry behind /metrics. */
  metricsRegistry: MetricsRegistry;
};
