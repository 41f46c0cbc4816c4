/**
 * `--log-config <file>`: levels and destinations per log (docs/logging.md). TorchServe takes a
 * log4j2 XML file here; we take a small JSON or properties file instead:
 *
 *   JSON:        {"level": "info", "loggers": {"ts_log": {"level": "debug", "console": true},
 *                                              "access_log": {"file": null}}}
 *   properties:  level=info
 *                ts_log.level=debug
 *                access_log.file=off
 *
 * Per log: `level` (pino level or `off`), `file` (name under the log directory, absolute path, or
 * null/`off` for none), `format` (`json`, `text` = `<time> [LEVEL] <log> - <msg>`, `plain` =
 * `<time> - <msg>`), `console` (`true`, `false` or `auto` = foreground on a terminal).
 */
import { z } from 'zod';
import { parseProperties, toPropertyMap } from '../config/properties.js';

export const LOG_NAMES = ['ts_log', 'access_log', 'model_log', 'ts_metrics'] as const;
export type LogName = (typeof LOG_NAMES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'text' | 'plain';

export type LogTarget = {
  level: LogLevel;
  /** File name (relative to the log directory) or absolute path; null = no file. */
  file: string | null;
  format: LogFormat;
  console: boolean | 'auto';
};

export type LogConfig = Readonly<Record<LogName, Readonly<LogTarget>>>;

/** TorchServe's files (spec §12); access and metrics lines keep its `<time> - <message>` layout. */
export const DEFAULT_LOG_CONFIG: LogConfig = Object.freeze({
  ts_log: Object.freeze({ level: 'info', file: 'ts_log.log', format: 'json', console: 'auto' }),
  access_log: Object.freeze({ level: 'info', file: 'access_log.log', format: 'plain', console: 'auto' }),
  model_log: Object.freeze({ level: 'info', file: 'model_log.log', format: 'json', console: false }),
  ts_metrics: Object.freeze({ level: 'info', file: 'ts_metrics.log', format: 'plain', console: false }),
} satisfies Record<LogName, LogTarget>);

const level = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .transform((s) => (s === 'off' || s === 'none' ? 'silent' : s === 'warning' ? 'warn' : s))
  .pipe(z.enum(LOG_LEVELS));

const file = z.union([
  z.null(),
  z
    .string()
    .transform((s) => s.trim())
    .transform((s) => (s === '' || s.toLowerCase() === 'off' || s.toLowerCase() === 'none' ? null : s)),
]);

const consoleFlag = z.union([
  z.boolean(),
  z.string().transform((s, ctx) => {
    const v = s.trim().toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
    if (v === 'auto') return 'auto' as const;
    ctx.addIssue({ code: 'custom', message: 'must be true, false or auto' });
    return z.NEVER;
  }),
]);

const target = z
  .object({
    level: level.optional(),
    file: file.optional(),
    format: z
      .string()
      .transform((s) => s.trim().toLowerCase())
      .pipe(z.enum(['json', 'text', 'plain']))
      .optional(),
    console: consoleFlag.optional(),
  })
  .strict();

const schema = z
  .object({
    level: level.optional(),
    loggers: z.object(Object.fromEntries(LOG_NAMES.map((n) => [n, target.optional()])) as Record<LogName, z.ZodOptional<typeof target>>).strict().optional(),
  })
  .strict();

export class LogConfigError extends Error {
  constructor(source: string, detail: string) {
    super(`invalid log configuration ${source}: ${detail}`);
    this.name = 'LogConfigError';
  }
}

/**
 * Parses a log configuration; JSON when the text starts with `{`, else properties. Unknown keys,
 * logs, levels or formats are errors (a typo should not silently keep the default).
 */
export function parseLogConfig(text: string, source: string): LogConfig {
  let input: unknown;
  if (text.trimStart().startsWith('{')) {
    try {
      input = JSON.parse(text);
    } catch (err) {
      throw new LogConfigError(source, (err as Error).message);
    }
  } else {
    input = propertiesToObject(text, source);
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new LogConfigError(source, why);
  }
  const out = {} as Record<LogName, LogTarget>;
  for (const name of LOG_NAMES) {
    const given = parsed.data.loggers?.[name] ?? {};
    out[name] = Object.freeze({
      ...DEFAULT_LOG_CONFIG[name],
      ...(parsed.data.level !== undefined ? { level: parsed.data.level } : {}),
      ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
    }) as LogTarget;
  }
  return Object.freeze(out);
}

/** `level=x` and `<log>.<field>=y` lines -> the JSON shape. */
function propertiesToObject(text: string, source: string): unknown {
  let entries;
  try {
    entries = toPropertyMap(parseProperties(text));
  } catch (err) {
    throw new LogConfigError(source, (err as Error).message);
  }
  const out: { level?: string; loggers: Record<string, Record<string, string>> } = { loggers: {} };
  for (const { key, value, line } of entries.values()) {
    if (key === 'level') {
      out.level = value;
      continue;
    }
    const dot = key.indexOf('.');
    if (dot <= 0) throw new LogConfigError(source, `line ${line}: unknown key ${key}`);
    const log = key.slice(0, dot);
    (out.loggers[log] ??= {})[key.slice(dot + 1)] = value;
  }
  return out;
}
