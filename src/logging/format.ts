/**
 * Text layouts of TorchServe's log4j2 patterns (spec §12), applied to pino's JSON records:
 *   text:  `2024-05-30T21:41:47,098 [INFO ] ts_log - message {"extra":"fields"}`
 *          worker output: `2024-05-30T21:41:47,098 [INFO ] W-9000-iris_1.0-stdout model_log - hi {"reqId":"..."}`
 *   plain: `2024-05-30T21:41:47,098 - message`   (access_log.log, ts_metrics.log)
 */

const LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname', 'err']);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** log4j2's ISO8601 layout in local time: `yyyy-MM-ddTHH:mm:ss,SSS`. */
export function formatLogTime(ms: number): string {
  return createLogTimeFormatter()(ms);
}

/**
 * `formatLogTime` that keeps the last second it formatted: lines come in bursts (one access line
 * per request), and building a Date's fields costs more than the rest of the line.
 */
export function createLogTimeFormatter(): (ms: number) => string {
  let cachedSecond = NaN;
  let prefix = '';
  return (ms) => {
    const second = Math.floor(ms / 1000);
    if (second !== cachedSecond) {
      const d = new Date(second * 1000);
      prefix =
        `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},`;
      cachedSecond = second;
    }
    return prefix + pad(Math.floor(ms - second * 1000), 3);
  };
}

/**
 * A bare message in a text layout, exactly as `formatRecord` renders pino's record of it:
 * `plain` = `<time> - <msg>`, `text` = `<time> [LEVEL] <log> - <msg>`.
 */
export function formatLine(time: string, level: number, msg: string, layout: 'text' | 'plain', logName: string): string {
  if (layout === 'plain') return `${time} - ${msg}\n`;
  return `${time} [${(LABELS[level] ?? String(level)).padEnd(5)}] ${logName} - ${msg}\n`;
}

/** Formats one pino JSON line; returns it unchanged (plus newline) if it is not JSON. */
export function formatRecord(line: string, layout: 'text' | 'plain', logName: string, formatTime: (ms: number) => string = formatLogTime): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : line + '\n';
  }
  const time = formatTime(typeof rec.time === 'number' ? rec.time : Date.now());
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  // Worker output names its worker where log4j prints the thread: `W-9000-mnist_1.0-stdout`.
  const thread = layout === 'text' && typeof rec.worker === 'string' ? (typeof rec.stream === 'string' ? `${rec.worker}-${rec.stream}` : rec.worker) : undefined;
  let out: string;
  if (layout === 'plain') {
    out = `${time} - ${msg}`;
  } else {
    const label = (LABELS[rec.level as number] ?? String(rec.level)).padEnd(5);
    out = `${time} [${label}] ${thread === undefined ? '' : `${thread} `}${logName} - ${msg}`;
  }
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) if (!OMIT.has(k) && !(thread !== undefined && (k === 'worker' || k === 'stream'))) extras[k] = v;
  if (layout === 'text' && Object.keys(extras).length > 0) out += ' ' + JSON.stringify(extras);
  const err = rec.err as { stack?: unknown; message?: unknown } | undefined;
  if (err && typeof err === 'object') {
    out += '\n' + (typeof err.stack === 'string' ? err.stack : String(err.message));
  }
  return out + '\n';
}
