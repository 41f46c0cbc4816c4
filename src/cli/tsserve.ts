/**
 * The `tsserve` command line (spec §1): TorchServe's flags, messages and exit codes.
 *
 *   tsserve [--start] ...           background: validate, spawn the server detached, wait until it
 *                                   reports its listeners (IPC), print the bind lines, exit 0
 *   tsserve --start --foreground    validate, then main.ts runs the server in this process
 *   tsserve --stop                  SIGTERM the pid in the pid file, wait (60 s), report
 *
 * Exit codes: 0 ok; 1 failed start/stop (message says why); 2 usage error (usage on stderr).
 * This module never reads process.env/argv: main.ts passes them in (CliContext).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../archive/package-version.js';
import { ConfigError, loadConfig, type CliOptions, type Env } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseLogConfig, type LogConfig } from '../logging/log-config.js';
import { pidFilePath, readPidFile, releasePidFile, waitForExit } from '../process/pid-file.js';

export type Writer = { write(s: string): unknown };

/** Internal flag marking the detached server process started by `tsserve --start`. */
export const CHILD_FLAG = '--tsserve-child';

export const MESSAGES = {
  alreadyRunning: 'TSServe is already running, please use tsserve --stop to stop TSServe.',
  orphan: 'Removing orphan pid file.',
  notRunning: 'TSServe is not currently running.',
  stopped: 'TSServe has stopped.',
  alreadyStopped: 'TSServe already stopped.',
  stopTooLong: 'Stopping TSServe took too long.',
  started: 'Model server started.',
} as const;

export function versionLine(): string {
  return `TSServe Version is ${packageVersion()}`;
}

// ---- parsing ---------------------------------------------------------------------------------------

export type TsserveCommand =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'stop' }
  | { kind: 'start'; cli: CliOptions; foreground: boolean; child: boolean };

/** A command-line mistake: print `message` and the usage on stderr, exit 2. */
export class UsageError extends Error {
  readonly usage: string;
  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

function buildProgram(): Command {
  return new Command('tsserve')
    .description("Serve ONNX models with TorchServe's REST APIs (inference, management, metrics).")
    .helpOption('-h, --help', 'show this help and exit')
    .addOption(new Option('-v, --version', 'print the version and exit').conflicts(['start', 'stop']))
    .addOption(new Option('--start', 'start the model server (the default)').conflicts(['stop']))
    .addOption(new Option('--stop', 'stop the running model server'))
    .option('--foreground', 'run in the foreground (logs on the terminal; Ctrl-C stops)')
    .option('--model-store <dir>', 'model store directory (overrides model_store)')
    .option('--models <model...>', 'models to load at start: all, file.mar, name=file.mar, name=dir')
    .option('--ts-config <file>', 'configuration file (ignored when TS_CONFIG_FILE is set)')
    .option('--log-config <file>', 'log configuration file (JSON or properties, see docs/logging.md)')
    .option('--ncs, --no-config-snapshots', 'neither write config snapshots nor start from the latest one')
    .option('--enable-model-api', 'enable the register/unregister APIs (can only enable)')
    .option('--dt, --disable-token-auth', 'disable token authorization (can only disable)')
    .addOption(new Option(CHILD_FLAG).hideHelp())
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
}

export function usageText(): string {
  return buildProgram().helpInformation();
}

/** Parses the arguments (without node and script). Throws UsageError. */
export function parseTsserveArgs(argv: readonly string[]): TsserveCommand {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { kind: 'help', text: program.helpInformation() };
      throw new UsageError(err.message.replace(/^error: /, ''), program.helpInformation());
    }
    throw err;
  }
  const o = program.opts<{
    version?: boolean;
    start?: boolean;
    stop?: boolean;
    foreground?: boolean;
    modelStore?: string;
    models?: string[];
    tsConfig?: string;
    logConfig?: string;
    configSnapshots?: boolean;
    enableModelApi?: boolean;
    disableTokenAuth?: boolean;
    tsserveChild?: boolean;
  }>();
  if (o.version) return { kind: 'version' };
  if (o.stop) return { kind: 'stop' };
  return {
    kind: 'start',
    foreground: o.foreground === true,
    child: o.tsserveChild === true,
    cli: {
      ...(o.modelStore !== undefined ? { modelStore: o.modelStore } : {}),
      ...(o.models !== undefined ? { models: o.models } : {}),
      ...(o.tsConfig !== undefined ? { tsConfig: o.tsConfig } : {}),
      ...(o.logConfig !== undefined ? { logConfig: o.logConfig } : {}),
      noConfigSnapshots: o.configSnapshots === false,
      enableModelApi: o.enableModelApi === true,
      disableTokenAuth: o.disableTokenAuth === true,
    },
  };
}

// ---- running ---------------------------------------------------------------------------------------

export type CliContext = {
  argv: readonly string[];
  env: Env;
  cwd: string;
  stdout: Writer;
  stderr: Writer;
  /** How to run the server in a detached process: executable and the arguments before the CLI's. */
  serverCommand: { execPath: string; args: readonly string[] };
  /** Directory of the default pid file (os.tmpdir()). */
  tmpdir?: string;
  /** Bounds the background start and the stop (defaults 120 s and 60 s). */
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
};

/** What main.ts must do next. */
export type CliResult =
  | { kind: 'exit'; code: number }
  | {
      kind: 'serve';
      config: Config;
      warnings: string[];
      logConfig: LogConfig | undefined;
      /** True in the detached process started by `--start`: report readiness over IPC. */
      child: boolean;
      pidFile: string;
    };

/** Messages the detached server sends its launcher over the IPC channel. */
export type ChildMessage = { kind: 'ready'; lines: string[] } | { kind: 'failed'; message: string };

export async function runCli(ctx: CliContext): Promise<CliResult> {
  let command: TsserveCommand;
  try {
    command = parseTsserveArgs(ctx.argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    ctx.stderr.write(`tsserve: ${err.message}\n\n${err.usage}`);
    return { kind: 'exit', code: 2 };
  }
  const pidFile = pidFilePath(ctx.env, ctx.tmpdir);
  switch (command.kind) {
    case 'help':
      ctx.stdout.write(command.text);
      return { kind: 'exit', code: 0 };
    case 'version':
      ctx.stdout.write(versionLine() + '\n');
      return { kind: 'exit', code: 0 };
    case 'stop':
      return { kind: 'exit', code: await stopServer(ctx, pidFile) };
    case 'start':
      return prepareStart(ctx, command, pidFile);
  }
}

async function prepareStart(ctx: CliContext, command: Extract<TsserveCommand, { kind: 'start' }>, pidFile: string): Promise<CliResult> {
  const { stdout, stderr } = ctx;
  // The detached child re-validates everything but leaves the pid-file talk to its launcher.
  if (!command.child) {
    const state = readPidFile(pidFile);
    if (state.kind === 'running') {
      stdout.write(MESSAGES.alreadyRunning + '\n');
      return { kind: 'exit', code: 1 };
    }
    if (state.kind === 'orphan') {
      stdout.write(MESSAGES.orphan + '\n');
      fs.rmSync(pidFile, { force: true });
    }
  }

  let config: Config;
  let warnings: string[];
  try {
    ({ config, warnings } = loadConfig({ cli: command.cli, env: ctx.env, cwd: ctx.cwd }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) stderr.write(p + '\n');
    return { kind: 'exit', code: 1 };
  }

  let logConfig: LogConfig | undefined;
  if (config.logConfigFile !== undefined) {
    try {
      logConfig = parseLogConfig(fs.readFileSync(config.logConfigFile, 'utf8'), config.logConfigFile);
    } catch (err) {
      stderr.write(`${(err as Error).message}\n`);
      return { kind: 'exit', code: 1 };
    }
  }

  if (!command.child) for (const w of warnings) stderr.write(`Warning: ${w}\n`);
  if (command.foreground || command.child) return { kind: 'serve', config, warnings, logConfig, child: command.child, pidFile };
  return { kind: 'exit', code: await startInBackground(ctx, config) };
}

/** Spawns the detached server and relays its outcome. */
async function startInBackground(ctx: CliContext, config: Config): Promise<number> {
  const { stdout, stderr } = ctx;
  const args = [...ctx.serverCommand.args, ...ctx.argv.filter((a) => a !== CHILD_FLAG), CHILD_FLAG];
  const child = spawn(ctx.serverCommand.execPath, args, {
    cwd: ctx.cwd,
    env: ctx.env as NodeJS.ProcessEnv,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const timeoutMs = ctx.startTimeoutMs ?? 120_000;
  const outcome = await new Promise<{ kind: 'ready'; lines: string[] } | { kind: 'failed'; message: string }>((resolve) => {
    let settled = false;
    const settle = (v: { kind: 'ready'; lines: string[] } | { kind: 'failed'; message: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle({ kind: 'failed', message: `TSServe did not start within ${Math.round(timeoutMs / 1000)} s; see ${config.logDir}/ts_log.log` });
    }, timeoutMs);
    child.on('message', (m: ChildMessage) => {
      if (m && (m.kind === 'ready' || m.kind === 'failed')) settle(m);
    });
    child.on('error', (err) => settle({ kind: 'failed', message: `cannot start the server process: ${err.message}` }));
    child.on('exit', (code, signal) =>
      settle({ kind: 'failed', message: `TSServe exited during startup (${signal ?? `exit code ${code}`}); see ${config.logDir}/ts_log.log` }),
    );
  });
  if (outcome.kind === 'ready') {
    for (const line of outcome.lines) stdout.write(line + '\n');
    stdout.write(MESSAGES.started + '\n');
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
    return 0;
  }
  stderr.write(outcome.message.endsWith('\n') ? outcome.message : outcome.message + '\n');
  child.removeAllListeners();
  if (child.connected) child.disconnect();
  child.unref();
  return 1;
}

/** `tsserve --stop` (spec §1.4). Waits for the server to exit, bounded. */
async function stopServer(ctx: CliContext, pidFile: string): Promise<number> {
  const state = readPidFile(pidFile);
  if (state.kind !== 'running') {
    if (state.kind === 'orphan') fs.rmSync(pidFile, { force: true });
    ctx.stdout.write(MESSAGES.notRunning + '\n');
    return 0;
  }
  try {
    process.kill(state.pid, 'SIGTERM');
  } catch {
    releasePidFile(pidFile, state.pid);
    ctx.stdout.write(MESSAGES.alreadyStopped + '\n');
    return 0;
  }
  if (!(await waitForExit(state.pid, ctx.stopTimeoutMs ?? 60_000))) {
    ctx.stderr.write(MESSAGES.stopTooLong + '\n');
    return 1;
  }
  // The server removes its pid file itself; this covers a server that died without doing so.
  releasePidFile(pidFile, state.pid);
  ctx.stdout.write(MESSAGES.stopped + '\n');
  return 0;
}
