/**
 * Plain in-memory metric series: what prom-client keeps per label set, without hashing a labels
 * object on every update. A family finds (or creates) a series by its label values once; callers
 * on the request path keep the series object and bump its fields, which costs a property write.
 * metrics.ts turns the families into format.ts's `MetricFamily` when it renders or logs.
 *
 * Semantics follow prom-client 15 exactly (the exposition must not change): a series exists from
 * its first update on, series keep the order of their first update, a counter starts at the
 * first increment, a gauge holds the last value set, and a histogram counts each observation in
 * the first bucket whose upper bound is >= the value (`+Inf` is the total count). A non-finite
 * observation is rejected with prom-client's TypeError before any series is created.
 */
import { format } from 'node:util';

/** A counter's or gauge's value for one label set. */
export class ScalarSeries {
  value = 0;
  /** Log mode: set since the previous metrics-log write (gauges). */
  dirty = false;
  /** Log mode: the cumulative value at the previous metrics-log write (counters). */
  logged = 0;
  /** Label values in the family's label-name order. */
  readonly labelValues: readonly string[];

  constructor(labelValues: readonly string[]) {
    this.labelValues = labelValues;
  }
}

/** A histogram's buckets, sum and count for one label set. */
export class HistogramSeries {
  /** Observations per finite upper bound (not cumulative), same index as the bounds. */
  readonly bucketCounts: number[];
  sum = 0;
  count = 0;
  /** Log mode: sum and count at the previous metrics-log write. */
  loggedSum = 0;
  loggedCount = 0;
  readonly labelValues: readonly string[];
  readonly #upperBounds: readonly number[];

  constructor(labelValues: readonly string[], upperBounds: readonly number[]) {
    this.labelValues = labelValues;
    this.#upperBounds = upperBounds;
    this.bucketCounts = new Array<number>(upperBounds.length).fill(0);
  }

  /** `value` must be finite (see assertObservable). */
  observe(value: number): void {
    const bounds = this.#upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.bucketCounts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

/** prom-client's check before a histogram observation (a throw creates no series). */
export function assertObservable(value: number): void {
  if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${format(value)}`);
}

/** prom-client's check before a gauge is set. */
export function assertGaugeValue(value: unknown): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`Value is not a valid number: ${format(value)}`);
}

/** prom-client printed a missing label value as ''. */
function labelValue(value: string | null | undefined): string {
  return String(value ?? '');
}

/** Series of one counter or gauge family, in creation order. */
export class ScalarFamily {
  readonly #series = new Map<string, ScalarSeries>();

  /** The series of `labelValues` (in label-name order), created on first use. */
  series(labelValues: readonly string[]): ScalarSeries {
    const key = JSON.stringify(labelValues);
    let s = this.#series.get(key);
    if (s === undefined) this.#series.set(key, (s = new ScalarSeries(labelValues.map(labelValue))));
    return s;
  }

  all(): IterableIterator<ScalarSeries> {
    return this.#series.values();
  }
}

/** Series of one histogram family, in creation order. */
export class HistogramFamily {
  readonly upperBounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();

  constructor(upperBounds: readonly number[]) {
    this.upperBounds = Object.freeze([...upperBounds]);
  }

  series(labelValues: readonly string[]): HistogramSeries {
    const key = JSON.stringify(labelValues);
    let s = this.#series.get(key);
    if (s === undefined) this.#series.set(key, (s = new HistogramSeries(labelValues.map(labelValue), this.upperBounds)));
    return s;
  }

  all(): IterableIterator<HistogramSeries> {
    return this.#series.values();
  }
}
