/**
 * The one metrics object (STYLE.md "metrics/"): prom-client metrics in a private Registry, fed
 * through the MetricsSink methods, rendered as TorchServe's Prometheus text (spec §10.1) or
 * written to the metrics log (spec §10.3), depending on metrics_mode:
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
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { formatExposition, formatGoDouble, formatLogLine, type MetricFamily, type MetricType, type Sample } from './format.js';
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

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
type Labels = Record<string, string>;

export class MetricsRegistry implements MetricsSink {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;

  readonly #registry = new Registry();
  readonly #metrics = new Map<string, AnyMetric>();
  readonly #definitions = new Map<string, MetricDefinition>();
  readonly #mode: Config['metricsMode'];
  readonly #hostname: string;
  readonly #log: Logger;
  readonly #metricsLog: Logger;
  readonly #modelMetricsLog: Logger;
  readonly #sampler: SystemSampler | undefined;
  readonly #timers: IntervalTimers;
  readonly #now: () => number;
  #timer: { unref(): unknown } | undefined;
  #pending: Promise<void> | undefined;
  #closed = false;
  /** Log mode: cumulative value of each counter/histogram series at the previous write. */
  readonly #logged = new Map<string, number>();
  /** Log mode: gauge series set since the previous write. */
  readonly #dirtyGauges = new Set<string>();

  constructor(options: MetricsRegistryOptions) {
    const { config } = options;
    this.#mode = config.metricsMode;
    this.#hostname = options.hostname ?? os.hostname();
    this.#log = options.log;
    this.#metricsLog = options.metricsLog ?? options.log;
    this.#modelMetricsLog = options.modelMetricsLog ?? this.#metricsLog;
    this.#timers = options.timers ?? GLOBAL_TIMERS;
    this.#now = options.now ?? Date.now;

    const systemEnabled = !config.disableSystemMetrics;
    for (const def of METRIC_DEFINITIONS as readonly MetricDefinition[]) {
      if (def.origin === 'system' && !systemEnabled) continue;
      this.#define(def);
    }
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
    const name = status >= 200 && status < 300 ? 'Requests2XX' : status >= 400 && status < 500 ? 'Requests4XX' : 'Requests5XX';
    this.#counter(name).inc(this.#hostLabels());
  }

  inferenceRequest(model: string, version: string): void {
    this.#counter('ts_inference_requests_total').inc(this.#tsModelLabels(model, version));
  }

  inferenceDone(model: string, version: string, latencyMicros: number, queueMicros: number): void {
    const labels = this.#tsModelLabels(model, version);
    this.#histogram('ts_inference_latency_microseconds').observe(labels, latencyMicros);
    this.#histogram('ts_queue_latency_microseconds').observe(labels, queueMicros);
    this.#setGauge('QueueTime', this.#hostLabels(), queueMicros / 1000);
  }

  batchRun(model: string, version: string, size: number, handlerMillis: number, workerThreadMillis?: number): void {
    this.#histogram('tsserve_batch_size').observe({ model_name: model, model_version: version }, size);
    const modelLabels = { ModelName: model, Level: 'Model', Hostname: this.#hostname };
    this.#setGauge('HandlerTime', modelLabels, handlerMillis);
    this.#setGauge('PredictionTime', modelLabels, handlerMillis);
    if (workerThreadMillis !== undefined) this.#setGauge('WorkerThreadTime', this.#hostLabels(), workerThreadMillis);
  }

  queueDepth(model: string, version: string, depth: number): void {
    this.#setGauge('tsserve_queue_depth', { model_name: model, model_version: version }, depth);
  }

  workerRestart(model: string, version: string): void {
    this.#counter('tsserve_worker_restarts_total').inc({ model_name: model, model_version: version });
  }

  workerLoaded(workerName: string, loadMillis: number): void {
    this.#setGauge('WorkerLoadTime', { WorkerName: workerName, ...this.#hostLabels() }, loadMillis);
  }

  authFailure(api: ApiName): void {
    this.#counter('tsserve_auth_failures_total').inc({ api });
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
    let families = await this.#families();
    if (this.#mode === 'legacy') families = families.filter((f) => LEGACY_METRICS.has(f.name));
    if (names !== undefined && names.length > 0) families = filterFamilies(families, new Set(names));
    return formatExposition(families);
  }

  /** Reads CPU, memory and disk now (no-op when disable_system_metrics). */
  async collectSystemMetrics(): Promise<void> {
    if (this.#sampler === undefined) return;
    const reading = await this.#sampler.read();
    const labels = this.#hostLabels();
    for (const name of SYSTEM_NAMES) this.#setGauge(name, labels, reading[name]);
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
    for (const family of await this.#families()) {
      if (this.#mode === 'legacy' && LEGACY_METRICS.has(family.name)) continue;
      const def = this.#definitions.get(family.name)!;
      const logger = def.origin === 'model' ? this.#modelMetricsLog : this.#metricsLog;
      for (const { labels, value } of this.#logValues(def, family.samples)) {
        const line = formatLogLine({
          name: def.name,
          unit: def.unit,
          value,
          dimensions: labels.filter(([k]) => k !== 'Hostname' && k !== 'hostname'),
          hostname: this.#hostname,
          timestampSec,
        });
        logger.info(line);
      }
    }
    this.#dirtyGauges.clear();
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

  #define(def: MetricDefinition): void {
    const common = {
      name: def.name,
      help: def.help ?? `Torchserve prometheus ${def.type} metric with unit: ${def.unit}`,
      labelNames: [...def.labelNames],
      registers: [this.#registry],
    };
    const metric =
      def.type === 'counter'
        ? new Counter(common)
        : def.type === 'gauge'
          ? new Gauge(common)
          : new Histogram({ ...common, buckets: [...(def.buckets ?? [])] });
    this.#metrics.set(def.name, metric);
    this.#definitions.set(def.name, def);
  }

  #counter(name: MetricName): Counter<string> {
    return this.#metrics.get(name) as Counter<string>;
  }

  #histogram(name: MetricName): Histogram<string> {
    return this.#metrics.get(name) as Histogram<string>;
  }

  #setGauge(name: MetricName, labels: Labels, value: number): void {
    const gauge = this.#metrics.get(name) as Gauge<string> | undefined;
    if (gauge === undefined) return;
    gauge.set(labels, value);
    if (this.#mode !== 'prometheus') this.#dirtyGauges.add(seriesKey(name, this.#definitions.get(name)!, labels));
  }

  #hostLabels(): Labels {
    return { Level: 'Host', Hostname: this.#hostname };
  }

  #tsModelLabels(model: string, version: string): Labels {
    return { model_name: model, model_version: version, hostname: this.#hostname };
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

  /** prom-client's values as ordered families (labels in definition order, `le` last). */
  async #families(): Promise<MetricFamily[]> {
    const out: MetricFamily[] = [];
    for (const metric of await this.#registry.getMetricsAsJSON()) {
      const def = this.#definitions.get(metric.name)!;
      const samples: Sample[] = metric.values.map((v) => {
        const raw = v.labels as Record<string, string | number | undefined>;
        const labels: [string, string][] = def.labelNames.map((k) => [k, String(raw[k] ?? '')]);
        if (raw.le !== undefined) labels.push(['le', typeof raw.le === 'number' ? formatGoDouble(raw.le) : String(raw.le)]);
        const named = v as { metricName?: string };
        return { name: named.metricName ?? metric.name, labels, value: v.value };
      });
      out.push({ name: metric.name, help: metric.help, type: def.type, samples });
    }
    return out;
  }

  /** The log-mode values of one family: see flushLog. */
  #logValues(def: MetricDefinition, samples: readonly Sample[]): { labels: Sample['labels']; value: number }[] {
    const out: { labels: Sample['labels']; value: number }[] = [];
    if (def.type === 'gauge') {
      for (const s of samples) {
        if (this.#dirtyGauges.has(seriesKeyOf(def.name, s.labels))) out.push({ labels: s.labels, value: s.value });
      }
    } else if (def.type === 'counter') {
      for (const s of samples) {
        const delta = this.#advance(seriesKeyOf(def.name, s.labels), s.value);
        if (delta > 0) out.push({ labels: s.labels, value: delta });
      }
    } else {
      const sums = new Map<string, Sample>();
      for (const s of samples) if (s.name === `${def.name}_sum`) sums.set(seriesKeyOf(def.name, s.labels), s);
      for (const s of samples) {
        if (s.name !== `${def.name}_count`) continue;
        const key = seriesKeyOf(def.name, s.labels);
        const sum = sums.get(key);
        const countDelta = this.#advance(`${key}\u0000count`, s.value);
        const sumDelta = this.#advance(`${key}\u0000sum`, sum?.value ?? 0);
        if (countDelta > 0) out.push({ labels: s.labels, value: sumDelta });
      }
    }
    return out;
  }

  /** Records `value` as the last logged cumulative value of `key`; returns the increase. */
  #advance(key: string, value: number): number {
    const before = this.#logged.get(key) ?? 0;
    this.#logged.set(key, value);
    return value - before;
  }
}

function seriesKey(name: string, def: MetricDefinition, labels: Labels): string {
  return seriesKeyOf(name, def.labelNames.map((k) => [k, labels[k] ?? ''] as const));
}

function seriesKeyOf(name: string, labels: Sample['labels']): string {
  return [name, ...labels.filter(([k]) => k !== 'le').map(([, v]) => v)].join('\u0001');
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
