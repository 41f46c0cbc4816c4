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
import { createLogTimeFormatter, formatLine, formatRecord } from './format.js';
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
    // Text-layout writers for the fast path below; null once a stream needs pino's JSON.
    let direct: ((level: number, time: string, msg: string) => void)[] | null = [];
    const formatTime = createLogTimeFormatter();
    if (t.level !== 'silent') {
      if (t.file !== null) {
        const file = path.resolve(dir, t.file);
        ensureWritableDir(path.dirname(file));
        const dest = destination({ dest: file, mkdir: true, sync: true, append: true }) as unknown as Boom;
        dest.on('error', (err: Error) => {
          opts.console?.write(`log file ${file} failed: ${err.message}\n`);
        });
        const boom = coalescing(dest);
        files.push(boom);
        if (t.format === 'json') {
          streams.push({ level: t.level, stream: boom });
          direct = null;
        } else {
          const layout = t.format;
          streams.push({ level: t.level, stream: textStream(boom, layout, name, formatTime) });
          direct?.push((level, time, msg) => boom.write(formatLine(time, level, msg, layout, name)));
        }
      }
      const toConsole = t.console === 'auto' ? opts.interactive : t.console;
      if (toConsole && opts.console) {
        const out = opts.console;
        streams.push({ level: t.level, stream: consoleStream(out, name, t.format, colorize, formatTime) });
        if (t.format === 'plain') direct?.push((level, time, msg) => out.write(formatLine(time, level, msg, 'text', name)));
        else direct = null;
      }
    }
    if (streams.length === 0) return pino({ level: 'silent' });
    const writers = direct;
    return pino(
      {
        name,
        level: t.level,
        base: null,
        redact: redact ? { paths: REDACT_PATHS, censor: '[REDACTED]' } : undefined,
        // A bare message to a text-layout log (every access line, every metrics line) is written
        // in its layout directly instead of going through pino's JSON and back (formatRecord):
        // same bytes, a fraction of the work on the per-request path.
        ...(writers !== null
          ? {
              hooks: {
                logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...a: unknown[]) => void, level: number) {
                  if (args.length === 1 && typeof args[0] === 'string') {
                    const time = formatTime(Date.now());
                    for (const w of writers) w(level, time, args[0]);
                    return;
                  }
                  method.apply(this, args);
                },
              },
            }
          : {}),
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

/**
 * Log files are written synchronously, and the lines of one turn of the event loop leave in one
 * write. An asynchronous write of one access line costs the event loop about 8 µs (a round trip
 * through the libuv thread pool), a synchronous one about 2 µs (the data lands in the page cache),
 * and it was the largest logging cost per request. Nothing waits longer than the current turn, so
 * a line reaches the file as soon as before. The price: a stalled disk stalls the server, as with
 * TorchServe's synchronous log4j appenders. flushSync, reopen and end hand over what is pending.
 */
function coalescing(out: Boom): Boom {
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    out.write(chunk);
  };
  const wrapped: Boom = {
    write(line: string) {
      pending += line;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return true;
    },
    flushSync() {
      flush();
      out.flushSync();
    },
    reopen(file?: string) {
      flush();
      out.reopen(file);
    },
    end() {
      flush();
      out.end();
    },
    once: (ev, fn) => out.once(ev, fn),
    on: (ev, fn) => out.on(ev, fn),
  };
  return wrapped;
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
function textStream(out: DestinationStream, layout: 'text' | 'plain', name: string, formatTime: (ms: number) => string): DestinationStream {
  return { write: (line: string) => out.write(formatRecord(line, layout, name, formatTime)) };
}

function consoleStream(
  out: { write(s: string): unknown },
  name: string,
  format: string,
  colorize: boolean,
  formatTime: (ms: number) => string,
): DestinationStream {
  if (format === 'plain') {
    // Access and metrics lines read best as TorchServe prints them on its console.
    return { write: (line: string) => out.write(formatRecord(line, 'text', name, formatTime)) };
  }
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' });
  return { write: (line: string) => out.write(pretty(line)) };
}
