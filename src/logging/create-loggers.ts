/**
 * The server's four logs (spec §12), each a pino logger writing to its file and, in the foreground
 * on a terminal, pretty to the console:
 *
 *   server  -> ts_log.log       (JSON; what `log` means everywhere in src/)
 *   access  -> access_log.log   (`<time> - /127.0.0.1:53514 "GET /models HTTP/1.1" 200 3 ...`)
 *   model   -> model_log.log    (handed to the engine for worker output)
 *   metrics -> ts_metrics.log   (in METRICS_LOCATION; handed to the metrics service)
 *
 * Levels, files, layouts and console output per log come from `--log-config` (log-config.ts).
 * Files are not rotated: `reopen()` (SIGHUP) lets logrotate move them (docs/logging.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { destination, multistream, pino, type DestinationStream, type StreamEntry } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { REDACT_PATHS, type Logger } from '../logger.js';
import { formatRecord } from './format.js';
import { DEFAULT_LOG_CONFIG, type LogConfig, type LogName, type LogTarget } from './log-config.js';

export type Loggers = {
  /** ts_log: the server log. */
  readonly server: Logger;
  /** access_log: one line per HTTP response. */
  readonly access: Logger;
  /** model_log: worker output. */
  readonly model: Logger;
  /** ts_metrics: metrics in log mode. */
  readonly metrics: Logger;
  /** Reopens every log file (after logrotate moved it). */
  reopen(): void;
  /** Writes out buffered lines synchronously (before a hard exit). */
  flushSync(): void;
  /** Flushes and closes the files. */
  close(): Promise<void>;
};

export type CreateLoggersOptions = {
  logDir: string;
  metricsLogDir: string;
  logConfig?: LogConfig;
  /** Foreground on a terminal: logs with `console: auto` go to the console. */
  interactive: boolean;
  /** Console output (the process's stdout in main.ts); without it nothing goes to the console. */
  console?: { write(s: string): unknown };
  /** Colour the console output (default: interactive). */
  colorize?: boolean;
};

type Boom = DestinationStream & {
  flushSync(): void;
  end(): void;
  reopen(file?: string): void;
  once(ev: string, fn: () => void): unknown;
  on(ev: string, fn: (err: Error) => void): unknown;
};

/**
 * Creates the loggers. Throws (with the path in the message) if a log directory cannot be created
 * or written, so the start fails with a clear reason instead of losing logs.
 */
export function createLoggers(opts: CreateLoggersOptions): Loggers {
  const conf = opts.logConfig ?? DEFAULT_LOG_CONFIG;
  const files: Boom[] = [];
  const colorize = opts.colorize ?? opts.interactive;

  const build = (name: LogName, dir: string, redact: boolean): Logger => {
    const t: LogTarget = conf[name];
    const streams: StreamEntry[] = [];
    if (t.level !== 'silent') {
      if (t.file !== null) {
        const file = path.resolve(dir, t.file);
        ensureWritableDir(path.dirname(file));
        const boom = destination({ dest: file, mkdir: true, sync: false, append: true }) as unknown as Boom;
        boom.on('error', (err: Error) => {
          opts.console?.write(`log file ${file} failed: ${err.message}\n`);
        });
        files.push(boom);
        streams.push({ level: t.level, stream: t.format === 'json' ? boom : textStream(boom, t.format, name) });
      }
      const toConsole = t.console === 'auto' ? opts.interactive : t.console;
      if (toConsole && opts.console) {
        streams.push({ level: t.level, stream: consoleStream(opts.console, name, t.format, colorize) });
      }
    }
    if (streams.length === 0) return pino({ level: 'silent' });
    return pino(
      {
        name,
        level: t.level,
        base: null,
        redact: redact ? { paths: REDACT_PATHS, censor: '[REDACTED]' } : undefined,
      },
      multistream(streams),
    );
  };

  const server = build('ts_log', opts.logDir, true);
  const access = build('access_log', opts.logDir, true);
  const model = build('model_log', opts.logDir, true);
  const metrics = build('ts_metrics', opts.metricsLogDir, false);

  let closed = false;
  return {
    server,
    access,
    model,
    metrics,
    reopen() {
      for (const f of files) {
        try {
          f.reopen();
        } catch {
          // A file that cannot be reopened keeps its old descriptor.
        }
      }
    },
    flushSync() {
      for (const f of files) {
        try {
          f.flushSync();
        } catch {
          // Not open yet (nothing written) or already closed.
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(
        files.map(
          (f) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 2000);
              timer.unref();
              f.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              try {
                f.end();
              } catch {
                clearTimeout(timer);
                resolve();
              }
            }),
        ),
      );
    },
  };
}

function ensureWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new Error(`cannot write log directory ${dir}: ${(err as Error).message}`);
  }
}

/** Reformats pino's JSON lines into one of TorchServe's text layouts. */
function textStream(out: DestinationStream, layout: 'text' | 'plain', name: string): DestinationStream {
  return { write: (line: string) => out.write(formatRecord(line, layout, name)) };
}

function consoleStream(out: { write(s: string): unknown }, name: string, format: string, colorize: boolean): DestinationStream {
  if (format === 'plain') {
    // Access and metrics lines read best as TorchServe prints them on its console.
    return { write: (line: string) => out.write(formatRecord(line, 'text', name)) };
  }
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (line: string) => out.write(pretty(line)) };
}
