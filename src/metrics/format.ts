/**
 * Pure text formatters for metrics: TorchServe's Prometheus exposition (Java simpleclient 0.9
 * `TextFormat.write004`) and its log-mode line (`LogMetric#buildMetricString`), spec §10.1, §10.3.
 * metrics.ts turns its series into `MetricFamily` values first.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export type Sample = {
  /** Series name: the family name, or `<family>_bucket|_sum|_count` for histograms. */
  name: string;
  /** Label pairs in exposition order (for buckets, `le` last as the Java client prints it). */
  labels: readonly (readonly [string, string])[];
  value: number;
};

export type MetricFamily = {
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
};

/**
 * Java's `Double.toString`: `8.0`, `290371.129`, `1.0E7`, `1.0E-4`. Plain decimal notation for
 * 1e-3 <= |v| < 1e7, otherwise `<mantissa>E<exponent>`; always at least one fractional digit.
 * Digits are JavaScript's shortest round-trip digits (what Java 19+ prints too).
 */
export function formatJavaDouble(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(value);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(value);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa, exponent] = value.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}

/** simpleclient's `Collector.doubleToGoString`: Go's infinities, Java's digits otherwise. */
export function formatGoDouble(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return formatJavaDouble(value);
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (s: string): string =>
  s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Prometheus text format 0.0.4 exactly as TorchServe writes it (spec §10.1): HELP and TYPE lines
 * even for a family without samples, every label set closed by `,}`, values as Java doubles, no
 * blank line between families. Prometheus parses the trailing comma fine.
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  let out = '';
  for (const family of families) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      out += sample.name;
      if (sample.labels.length > 0) {
        out += '{';
        for (const [key, value] of sample.labels) out += `${key}="${escapeLabelValue(value)}",`;
        out += '}';
      }
      out += ` ${formatGoDouble(sample.value)}\n`;
    }
  }
  return out;
}

export type LogLine = {
  name: string;
  unit: string;
  value: number;
  /** Dimensions other than the host name, in definition order. */
  dimensions: readonly (readonly [string, string])[];
  hostname: string;
  timestampSec: number;
  /** Backend metrics carry the request ids of their batch (model_metrics.log). */
  requestId?: string;
};

/**
 * TorchServe's log-mode line (spec §10.3):
 * `<Name>.<Unit>:<value>|#<dim>:<val>,...|#hostname:<host>[,requestID:<ids>],timestamp:<epoch s>`.
 */
export function formatLogLine(line: LogLine): string {
  const dims = line.dimensions.map(([k, v]) => `${k}:${v}`).join(',');
  const requestId = line.requestId ? `,requestID:${line.requestId}` : '';
  return (
    `${line.name}.${line.unit}:${formatJavaDouble(line.value)}|#${dims}` +
    `|#hostname:${line.hostname}${requestId},timestamp:${Math.floor(line.timestampSec)}`
  );
}
