/**
 * The one metrics object (STYLE.md "metrics/"): plain series (series.ts: prom-client's semantics
 * without its label hashing on every update) fed through the MetricsSink methods, rendered as
 * TorchServe's Prometheus text (spec §10.1) or written to the metrics log (spec §10.3), depending
 * on metrics_mode:
 *
 *   prometheus  /metrics serves every family below
 *   log         /metrics answers an empty body; every metric_time_interval the changes since the
 *               previous write go to the metrics log, one TorchServe line per series
 *   legacy      /metrics serves only the three ts_* families; the rest is logged as in `log`
 *
 * Latencies are histograms (issue #8: they aggregate across replicas) under TorchServe's names, so
 * `<name>_sum` equals the value of TorchServe's counter of that name.
 */
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { formatExposition, formatGoDouble, formatLogLine, type MetricFamily, type MetricType, type Sample } from './format.js';
import { HistogramFamily, ScalarFamily, assertGaugeValue, assertObservable, type HistogramSeries, type ScalarSeries } from './series.js';
import { SystemSampler, type SystemReading } from './system-metrics.js';
import type { ApiName, MetricsSink } from './types.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Where a definition comes from and which log it goes to in log mode. */
type Origin = 'frontend' | 'system' | 'model' | 'tsserve';

export type MetricDefinition = {
  readonly name: string;
  readonly type: MetricType;
  readonly unit: string;
  /** Label names in exposition order; the host-name label, when present, is last. */
  readonly labelNames: readonly string[];
  readonly origin: Origin;
  /** HELP text for our own metrics; TorchServe's get `Torchserve prometheus <type> metric with unit: <unit>`. */
  readonly help?: string;
  readonly buckets?: readonly number[];
};

const HOST = ['Level', 'Hostname'] as const;
const TS_MODEL = ['model_name', 'model_version', 'hostname'] as const;
const OUR_MODEL = ['model_name', 'model_version'] as const;

/** Microseconds: 100 µs .. 2 min, roughly 1-2.5-5 per decade. */
export const LATENCY_BUCKETS_MICROS = [
  100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
  2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000, 120_000_000,
] as const;
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;

/** Every family, in exposition order. Names, units and labels as spec §10.2 / ts/configs/metrics.yaml. */
export const METRIC_DEFINITIONS = [
  { name: 'Requests2XX', type: 'counter', unit: 'Count', labelNames: HOST, origin: 'frontend' },
  { name: 'Requests4XX', type: 'counter', unit: 'Count', labelNames: HOST, origin: 'frontend' },
  { name: 'Requests5XX', type: 'counter', unit: 'Count', labelNames: HOST, origin: 'frontend' },
  { name: 'ts_inference_requests_total', type: 'counter', unit: 'Count', labelNames: TS_MODEL, origin: 'frontend' },
  { name: 'ts_inference_latency_microseconds', type: 'histogram', unit: 'Microseconds', labelNames: TS_MODEL, origin: 'frontend', buckets: LATENCY_BUCKETS_MICROS },
  { name: 'ts_queue_latency_microseconds', type: 'histogram', unit: 'Microseconds', labelNames: TS_MODEL, origin: 'frontend', buckets: LATENCY_BUCKETS_MICROS },
  { name: 'QueueTime', type: 'gauge', unit: 'Milliseconds', labelNames: HOST, origin: 'frontend' },
  { name: 'WorkerThreadTime', type: 'gauge', unit: 'Milliseconds', labelNames: HOST, origin: 'frontend' },
  { name: 'WorkerLoadTime', type: 'gauge', unit: 'Milliseconds', labelNames: ['WorkerName', ...HOST], origin: 'frontend' },
  { name: 'CPUUtilization', type: 'gauge', unit: 'Percent', labelNames: HOST, origin: 'system' },
  { name: 'MemoryUsed', type: 'gauge', unit: 'Megabytes', labelNames: HOST, origin: 'system' },
  { name: 'MemoryAvailable', type: 'gauge', unit: 'Megabytes', labelNames: HOST, origin: 'system' },
  { name: 'MemoryUtilization', type: 'gauge', unit: 'Percent', labelNames: HOST, origin: 'system' },
  { name: 'DiskUsage', type: 'gauge', unit: 'Gigabytes', labelNames: HOST, origin: 'system' },
  { name: 'DiskUtilization', type: 'gauge', unit: 'Percent', labelNames: HOST, origin: 'system' },
  { name: 'DiskAvailable', type: 'gauge', unit: 'Gigabytes', labelNames: HOST, origin: 'system' },
  { name: 'HandlerTime', type: 'gauge', unit: 'ms', labelNames: ['ModelName', ...HOST], origin: 'model' },
  { name: 'PredictionTime', type: 'gauge', unit: 'ms', labelNames: ['ModelName', ...HOST], origin: 'model' },
  { name: 'tsserve_batch_size', type: 'histogram', unit: 'Count', labelNames: OUR_MODEL, origin: 'tsserve', buckets: BATCH_SIZE_BUCKETS, help: 'Requests per batch run by a worker.' },
  { name: 'tsserve_queue_depth', type: 'gauge', unit: 'Count', labelNames: OUR_MODEL, origin: 'tsserve', help: 'Requests waiting in the job queue of a model version.' },
  { name: 'tsserve_worker_restarts_total', type: 'counter', unit: 'Count', labelNames: OUR_MODEL, origin: 'tsserve', help: 'Workers replaced after dying or timing out.' },
  { name: 'tsserve_auth_failures_total', type: 'counter', unit: 'Count', labelNames: ['api'], origin: 'tsserve', help: 'Requests rejected by token or user authentication, by API.' },
] as const satisfies readonly MetricDefinition[];

export type MetricName = (typeof METRIC_DEFINITIONS)[number]['name'];

/** The families `metrics_mode=legacy` exposes (spec §10.1). */
export const LEGACY_METRICS: ReadonlySet<string> = new Set([
  'ts_inference_requests_total',
  'ts_inference_latency_microseconds',
  'ts_queue_latency_microseconds',
]);

const SYSTEM_NAMES = ['CPUUtilization', 'MemoryUsed', 'MemoryAvailable', 'MemoryUtilization', 'DiskUsage', 'DiskUtilization', 'DiskAvailable'] as const satisfies readonly (keyof SystemReading & MetricName)[];

/** Injected so tests can drive the collection timer; defaults to the global timers. */
export type IntervalTimers = {
  setInterval(fn: () => void, ms: number): { unref(): unknown };
  clearInterval(handle: { unref(): unknown }): void;
};

const GLOBAL_TIMERS: IntervalTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

export type MetricsRegistryOptions = {
  config: Pick<Config, 'metricsMode' | 'disableSystemMetrics' | 'metricTimeIntervalSec'>;
  /** Server log: collection failures. */
  log: Logger;
  /** ts_metrics.log in log/legacy mode (frontend and system metrics); defaults to `log`. */
  metricsLog?: Logger;
  /** model_metrics.log (HandlerTime, PredictionTime); defaults to `metricsLog`. */
  modelMetricsLog?: Logger;
  /** Value of the Hostname/hostname labels; defaults to os.hostname(). */
  hostname?: string;
  /** File system whose usage the Disk* metrics report; defaults to the root of the working directory. */
  diskPath?: string;
  timers?: IntervalTimers;
  /** Clock for log timestamps, epoch milliseconds. */
  now?: () => number;
};

type Family = { def: MetricDefinition } & ({ kind: 'scalar'; store: ScalarFamily } | { kind: 'histogram'; store: HistogramFamily });

/**
 * The series one (model, version) pair touches, found once per pair and kept: the request path
 * then costs two Map look-ups and a few property writes. Each field is created on its family's
 * first update, so series appear (and keep their order) exactly as they did in prom-client.
 */
type ModelSeries = {
  /** model_name, model_version, hostname (TorchServe's ts_* families). */
  readonly tsLabels: readonly string[];
  /** model_name, model_version (our tsserve_* families). */
  readonly ourLabels: readonly string[];
  requests?: ScalarSeries;
  latency?: HistogramSeries;
  queueLatency?: HistogramSeries;
  batchSize?: HistogramSeries;
  queueDepth?: ScalarSeries;
  restarts?: ScalarSeries;
};

/** HandlerTime and PredictionTime are labelled by model name only. */
type ModelNameSeries = { readonly labels: readonly string[]; handler?: ScalarSeries; prediction?: ScalarSeries };

export class MetricsRegistry implements MetricsSink {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;

  /** Defined families in exposition order. */
  readonly #families = new Map<string, Family>();
  readonly #mode: Config['metricsMode'];
  readonly #hostname: string;
  /** Label values of the host-level families: Level, Hostname. */
  readonly #hostValues: readonly string[];
  readonly #log: Logger;
  readonly #metricsLog: Logger;
  readonly #modelMetricsLog: Logger;
  readonly #sampler: SystemSampler | undefined;
  readonly #timers: IntervalTimers;
  readonly #now: () => number;
  #timer: { unref(): unknown } | undefined;
  #pending: Promise<void> | undefined;
  #closed = false;

  // Families and series of the per-request calls, resolved once.
  readonly #requests2xx: ScalarFamily;
  readonly #requests4xx: ScalarFamily;
  readonly #requests5xx: ScalarFamily;
  readonly #requestsTotal: ScalarFamily;
  readonly #latency: HistogramFamily;
  readonly #queueLatency: HistogramFamily;
  readonly #queueTime: ScalarFamily;
  readonly #workerThreadTime: ScalarFamily;
  readonly #handlerTime: ScalarFamily;
  readonly #predictionTime: ScalarFamily;
  readonly #batchSize: HistogramFamily;
  readonly #queueDepth: ScalarFamily;
  readonly #restarts: ScalarFamily;
  #requests2xxSeries: ScalarSeries | undefined;
  #requests4xxSeries: ScalarSeries | undefined;
  #requests5xxSeries: ScalarSeries | undefined;
  #queueTimeSeries: ScalarSeries | undefined;
  #workerThreadTimeSeries: ScalarSeries | undefined;
  readonly #models = new Map<string, Map<string, ModelSeries>>();
  readonly #modelNames = new Map<string, ModelNameSeries>();

  constructor(options: MetricsRegistryOptions) {
    const { config } = options;
    this.#mode = config.metricsMode;
    this.#hostname = options.hostname ?? os.hostname();
    this.#hostValues = ['Host', this.#hostname];
    this.#log = options.log;
    this.#metricsLog = options.metricsLog ?? options.log;
    this.#modelMetricsLog = options.modelMetricsLog ?? this.#metricsLog;
    this.#timers = options.timers ?? GLOBAL_TIMERS;
    this.#now = options.now ?? Date.now;

    const systemEnabled = !config.disableSystemMetrics;
    for (const def of METRIC_DEFINITIONS as readonly MetricDefinition[]) {
      if (def.origin === 'system' && !systemEnabled) continue;
      this.#families.set(
        def.name,
        def.type === 'histogram'
          ? { def, kind: 'histogram', store: new HistogramFamily(def.buckets ?? []) }
          : { def, kind: 'scalar', store: new ScalarFamily() },
      );
    }
    this.#requests2xx = this.#scalar('Requests2XX');
    this.#requests4xx = this.#scalar('Requests4XX');
    this.#requests5xx = this.#scalar('Requests5XX');
    this.#requestsTotal = this.#scalar('ts_inference_requests_total');
    this.#latency = this.#histogram('ts_inference_latency_microseconds');
    this.#queueLatency = this.#histogram('ts_queue_latency_microseconds');
    this.#queueTime = this.#scalar('QueueTime');
    this.#workerThreadTime = this.#scalar('WorkerThreadTime');
    this.#handlerTime = this.#scalar('HandlerTime');
    this.#predictionTime = this.#scalar('PredictionTime');
    this.#batchSize = this.#histogram('tsserve_batch_size');
    this.#queueDepth = this.#scalar('tsserve_queue_depth');
    this.#restarts = this.#scalar('tsserve_worker_restarts_total');

    if (systemEnabled) {
      this.#sampler = new SystemSampler(options.diskPath ?? path.parse(process.cwd()).root);
      // First reading now, so the first scrape already has host metrics (TorchServe schedules
      // its collector with no initial delay); render() waits for it.
      this.#startTick(false);
    }
    if (systemEnabled || this.#mode !== 'prometheus') {
      this.#timer = this.#timers.setInterval(() => this.#startTick(true), config.metricTimeIntervalSec * 1000);
      this.#timer.unref();
    }
  }

  // ---- MetricsSink -----------------------------------------------------------------------------

  httpResponse(status: number): void {
    // spec §10.2: 5XX counts everything that is neither 2xx nor 4xx.
    if (status >= 200 && status < 300) (this.#requests2xxSeries ??= this.#requests2xx.series(this.#hostValues)).value += 1;
    else if (status >= 400 && status < 500) (this.#requests4xxSeries ??= this.#requests4xx.series(this.#hostValues)).value += 1;
    else (this.#requests5xxSeries ??= this.#requests5xx.series(this.#hostValues)).value += 1;
  }

  inferenceRequest(model: string, version: string): void {
    const m = this.#model(model, version);
    (m.requests ??= this.#requestsTotal.series(m.tsLabels)).value += 1;
  }

  inferenceDone(model: string, version: string, latencyMicros: number, queueMicros: number): void {
    const m = this.#model(model, version);
    assertObservable(latencyMicros);
    (m.latency ??= this.#latency.series(m.tsLabels)).observe(latencyMicros);
    assertObservable(queueMicros);
    (m.queueLatency ??= this.#queueLatency.series(m.tsLabels)).observe(queueMicros);
    const queueMillis = queueMicros / 1000;
    setGauge((this.#queueTimeSeries ??= this.#queueTime.series(this.#hostValues)), queueMillis);
  }

  batchRun(model: string, version: string, size: number, handlerMillis: number, workerThreadMillis?: number): void {
    const m = this.#model(model, version);
    assertObservable(size);
    (m.batchSize ??= this.#batchSize.series(m.ourLabels)).observe(size);
    let n = this.#modelNames.get(model);
    if (n === undefined) this.#modelNames.set(model, (n = { labels: [model, 'Model', this.#hostname] }));
    assertGaugeValue(handlerMillis);
    setGauge((n.handler ??= this.#handlerTime.series(n.labels)), handlerMillis);
    setGauge((n.prediction ??= this.#predictionTime.series(n.labels)), handlerMillis);
    if (workerThreadMillis !== undefined) {
      assertGaugeValue(workerThreadMillis);
      setGauge((this.#workerThreadTimeSeries ??= this.#workerThreadTime.series(this.#hostValues)), workerThreadMillis);
    }
  }

  queueDepth(model: string, version: string, depth: number): void {
    const m = this.#model(model, version);
    assertGaugeValue(depth);
    setGauge((m.queueDepth ??= this.#queueDepth.series(m.ourLabels)), depth);
  }

  workerRestart(model: string, version: string): void {
    const m = this.#model(model, version);
    (m.restarts ??= this.#restarts.series(m.ourLabels)).value += 1;
  }

  workerLoaded(workerName: string, loadMillis: number): void {
    this.#setGauge('WorkerLoadTime', [workerName, ...this.#hostValues], loadMillis);
  }

  authFailure(api: ApiName): void {
    this.#scalar('tsserve_auth_failures_total').series([api]).value += 1;
  }

  // ---- output ----------------------------------------------------------------------------------

  /**
   * Prometheus text for /metrics. `names` filters like TorchServe's `name[]=` (simpleclient
   * `filteredMetricFamilySamples`): keep samples whose series name is listed, drop families left
   * empty. Beyond TorchServe, a histogram's family name selects all its series (its bare name has
   * no sample of its own). `log` mode answers '' (spec §10.1).
   */
  async render(names?: readonly string[]): Promise<string> {
    if (this.#mode === 'log') return '';
    await this.#pending;
    let families = this.#snapshot();
    if (this.#mode === 'legacy') families = families.filter((f) => LEGACY_METRICS.has(f.name));
    if (names !== undefined && names.length > 0) families = filterFamilies(families, new Set(names));
    return formatExposition(families);
  }

  /** Reads CPU, memory and disk now (no-op when disable_system_metrics). */
  async collectSystemMetrics(): Promise<void> {
    if (this.#sampler === undefined) return;
    const reading = await this.#sampler.read();
    for (const name of SYSTEM_NAMES) this.#setGauge(name, this.#hostValues, reading[name]);
  }

  /**
   * log/legacy mode: writes what changed since the previous call, one TorchServe line per series
   * (spec §10.3). TorchServe logs each update as it happens; we write on the metric_time_interval
   * tick instead, with counters and histograms as the increase over the interval (a histogram
   * logs its `_sum` increase), so summing the lines of a series still gives TorchServe's total.
   * Gauges log their latest value if set during the interval. No-op in prometheus mode.
   */
  async flushLog(): Promise<void> {
    if (this.#mode === 'prometheus') return;
    const timestampSec = Math.floor(this.#now() / 1000);
    for (const family of this.#families.values()) {
      const def = family.def;
      if (this.#mode === 'legacy' && LEGACY_METRICS.has(def.name)) continue;
      const logger = def.origin === 'model' ? this.#modelMetricsLog : this.#metricsLog;
      for (const { labelValues, value } of logValues(family)) {
        const line = formatLogLine({
          name: def.name,
          unit: def.unit,
          value,
          dimensions: labelPairs(def, labelValues).filter(([k]) => k !== 'Hostname' && k !== 'hostname'),
          hostname: this.#hostname,
          timestampSec,
        });
        logger.info(line);
      }
    }
    for (const family of this.#families.values()) {
      if (family.kind === 'scalar' && family.def.type === 'gauge') for (const s of family.store.all()) s.dirty = false;
    }
  }

  /** Stops the collection timer; in log/legacy mode writes the last interval's changes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#pending;
    try {
      await this.flushLog();
    } catch (err) {
      this.#log.warn({ err }, 'metrics log write failed');
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  /** A counter or gauge family that is always defined. */
  #scalar(name: MetricName): ScalarFamily {
    const family = this.#families.get(name);
    if (family?.kind !== 'scalar') throw new Error(`no counter or gauge ${name}`);
    return family.store;
  }

  #histogram(name: MetricName): HistogramFamily {
    const family = this.#families.get(name);
    if (family?.kind !== 'histogram') throw new Error(`no histogram ${name}`);
    return family.store;
  }

  /** Sets a gauge by label values; a family left undefined (system metrics off) is ignored. */
  #setGauge(name: MetricName, labelValues: readonly string[], value: number): void {
    const family = this.#families.get(name);
    if (family?.kind !== 'scalar') return;
    assertGaugeValue(value);
    setGauge(family.store.series(labelValues), value);
  }

  #model(model: string, version: string): ModelSeries {
    let byVersion = this.#models.get(model);
    if (byVersion === undefined) this.#models.set(model, (byVersion = new Map()));
    let m = byVersion.get(version);
    if (m === undefined) {
      m = { tsLabels: [model, version, this.#hostname], ourLabels: [model, version] };
      byVersion.set(version, m);
    }
    return m;
  }

  #startTick(flush: boolean): void {
    if (this.#closed || this.#pending !== undefined) return; // never overlap two collections
    this.#pending = (async () => {
      try {
        await this.collectSystemMetrics();
      } catch (err) {
        this.#log.warn({ err }, 'system metrics collection failed');
      }
      if (!flush) return;
      try {
        await this.flushLog();
      } catch (err) {
        this.#log.warn({ err }, 'metrics log write failed');
      }
    })().finally(() => {
      this.#pending = undefined;
    });
  }

  /** Every family's current values (labels in definition order, `le` last). */
  #snapshot(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const family of this.#families.values()) {
      const def = family.def;
      const help = def.help ?? `Torchserve prometheus ${def.type} metric with unit: ${def.unit}`;
      const samples: Sample[] = [];
      if (family.kind === 'scalar') {
        for (const s of family.store.all()) samples.push({ name: def.name, labels: labelPairs(def, s.labelValues), value: s.value });
      } else {
        const bounds = family.store.upperBounds;
        const les = bounds.map(formatGoDouble);
        const bucketName = `${def.name}_bucket`;
        for (const s of family.store.all()) {
          const labels = labelPairs(def, s.labelValues);
          let cumulative = 0;
          for (let i = 0; i < bounds.length; i++) {
            cumulative += s.bucketCounts[i]!;
            samples.push({ name: bucketName, labels: [...labels, ['le', les[i]!]], value: cumulative });
          }
          samples.push({ name: bucketName, labels: [...labels, ['le', '+Inf']], value: s.count });
          samples.push({ name: `${def.name}_sum`, labels, value: s.sum });
          samples.push({ name: `${def.name}_count`, labels, value: s.count });
        }
      }
      out.push({ name: def.name, help, type: def.type, samples });
    }
    return out;
  }
}

function setGauge(series: ScalarSeries, value: number): void {
  series.value = value;
  series.dirty = true;
}

function labelPairs(def: MetricDefinition, labelValues: readonly string[]): [string, string][] {
  return def.labelNames.map((k, i) => [k, labelValues[i] ?? '']);
}

/**
 * The log-mode values of one family (see flushLog), advancing each counter's and histogram's
 * last logged value.
 */
function logValues(family: Family): { labelValues: readonly string[]; value: number }[] {
  const out: { labelValues: readonly string[]; value: number }[] = [];
  if (family.kind === 'scalar') {
    for (const s of family.store.all()) {
      if (family.def.type === 'gauge') {
        if (s.dirty) out.push({ labelValues: s.labelValues, value: s.value });
        continue;
      }
      const delta = s.value - s.logged;
      s.logged = s.value;
      if (delta > 0) out.push({ labelValues: s.labelValues, value: delta });
    }
  } else {
    for (const s of family.store.all()) {
      const countDelta = s.count - s.loggedCount;
      const sumDelta = s.sum - s.loggedSum;
      s.loggedCount = s.count;
      s.loggedSum = s.sum;
      if (countDelta > 0) out.push({ labelValues: s.labelValues, value: sumDelta });
    }
  }
  return out;
}

function filterFamilies(families: readonly MetricFamily[], names: ReadonlySet<string>): MetricFamily[] {
  const out: MetricFamily[] = [];
  for (const family of families) {
    const wholeFamily = family.type === 'histogram' && names.has(family.name);
    const samples = wholeFamily ? family.samples : family.samples.filter((s) => names.has(s.name));
    if (samples.length > 0) out.push({ ...family, samples });
  }
  return out;
}
