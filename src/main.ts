/**
 * The process (STYLE.md: "argv -> config -> start; signals; exit code"). The only module that
 * reads process.env and process.argv. bin/tsserve.js imports it; importing it runs the CLI.
 *
 *   runCli: usage / version / --stop / validation / background launch  -> exit code
 *           or "serve": run the server in this process (--foreground, or the detached child)
 *   serve:  pid file -> loggers -> startServer -> bind lines (stdout or IPC) -> wait for a signal
 *   signal: SIGTERM / SIGINT (and SIGHUP in the foreground) -> close() -> release pid file -> exit 0;
 *           a second signal exits at once (1). SIGHUP in the background reopens the log files.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CHILD_FLAG, MESSAGES, runCli, type ChildMessage, type CliResult } from './cli/tsserve.js';
import type { Loggers } from './logging/create-loggers.js';
import { AlreadyRunningError, acquirePidFile, releasePidFile } from './process/pid-file.js';
import type { RunningServer } from './server.js';

type Serve = Extract<CliResult, { kind: 'serve' }>;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const isChild = argv.includes(CHILD_FLAG) && typeof process.send === 'function';
  // The detached child has no terminal: what the CLI would print goes to its launcher instead.
  let captured = '';
  const capture = { write: (s: string) => (captured += s) };
  const result = await runCli({
    argv,
    env: process.env,
    cwd: process.cwd(),
    stdout: isChild ? capture : process.stdout,
    stderr: isChild ? capture : process.stderr,
    serverCommand: { execPath: process.execPath, args: [...process.execArgv, fileURLToPath(import.meta.url)] },
    tmpdir: os.tmpdir(),
  });
  if (result.kind === 'exit') {
    if (isChild) await report({ kind: 'failed', message: captured || `exit code ${result.code}` });
    process.exitCode = result.code;
    return;
  }
  await serve(result);
}

/** Sends a message to the launcher (background start) and waits until it is written. */
function report(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function serve(s: Serve): Promise<void> {
  // Loaded only to serve: --stop, --version and the background launcher stay quick.
  const [{ createLoggers }, { startServer }] = await Promise.all([import('./logging/create-loggers.js'), import('./server.js')]);
  const interactive = !s.child && process.stdout.isTTY === true;
  const fail = async (message: string, loggers?: Loggers): Promise<void> => {
    loggers?.server.fatal(message);
    await loggers?.close();
    if (s.child) await report({ kind: 'failed', message });
    else process.stderr.write(message + '\n');
    process.exitCode = 1;
  };

  try {
    acquirePidFile(s.pidFile, process.pid, () => {
      if (!s.child) process.stdout.write(MESSAGES.orphan + '\n');
    });
  } catch (err) {
    return fail(err instanceof AlreadyRunningError ? err.message : `cannot write pid file ${s.pidFile}: ${(err as Error).message}`);
  }

  let loggers: Loggers;
  try {
    loggers = createLoggers({
      logDir: s.config.logDir,
      metricsLogDir: s.config.metricsLogDir,
      logConfig: s.logConfig,
      interactive,
      console: process.stdout,
    });
  } catch (err) {
    releasePidFile(s.pidFile, process.pid);
    return fail((err as Error).message);
  }
  const log = loggers.server;
  for (const w of s.warnings) log.warn(w);

  // Signals are handled from the start, so a stop during startup is not lost.
  let server: RunningServer | undefined;
  let stopping = false;
  let stopRequested = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'shutdown requested');
    try {
      await server?.close();
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    }
    releasePidFile(s.pidFile, process.pid);
    await loggers.close();
    process.exit(process.exitCode ?? 0);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || stopRequested) {
      // Second signal: leave now.
      log.warn({ signal }, 'second signal, exiting immediately');
      loggers.flushSync();
      releasePidFile(s.pidFile, process.pid);
      process.exit(1);
    }
    if (!server) {
      stopRequested = true;
      return;
    }
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (s.child) process.on('SIGHUP', () => loggers.reopen());
  else process.on('SIGHUP', onSignal);
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    loggers.flushSync();
    releasePidFile(s.pidFile, process.pid);
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err }, 'unhandled rejection');
  });

  try {
    server = await startServer(s.config, loggers);
  } catch (err) {
    log.fatal({ err }, 'start failed');
    releasePidFile(s.pidFile, process.pid);
    return fail((err as Error).message, loggers);
  }

  log.info(MESSAGES.started);
  if (s.child) {
    await report({ kind: 'ready', lines: [...server.bindLines] });
    if (process.connected) process.disconnect();
  } else {
    for (const line of server.bindLines) process.stdout.write(line + '\n');
    process.stdout.write(MESSAGES.started + '\n');
  }
  if (stopRequested) void shutdown('signal during startup');
}

await main();
