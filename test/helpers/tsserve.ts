/**
 * Black-box helpers for e2e tests: run the built `tsserve` CLI (node bin/tsserve.js, against
 * dist/) in a private temp directory with its own pid file, read the `... API bind to: URL` lines,
 * talk HTTP(S), and always stop what was started (t.after). Every wait has a timeout.
 *
 *   const ws = makeWorkspace(t);                        // temp cwd, model_store/, config.properties
 *   const server = await startBackground(t, ws, ['--disable-token-auth']);
 *   const res = await httpRequest(`${server.addresses.management}/models`);
 *   await server.stop();                                // tsserve --stop (also done in t.after)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding package.json (tests run from dist/test/...). */
export const REPO_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test file');
    dir = parent;
  }
  return dir;
})();

export const TSSERVE_BIN = path.join(REPO_ROOT, 'bin', 'tsserve.js');

/** The shared test models (`../shared/models/*.onnx`). */
export const SHARED_MODELS_DIR = path.resolve(REPO_ROOT, '../shared/models');

type After = { after(fn: () => unknown): void };

export type Workspace = {
  /** The server's working directory (logs/, key_file.json, metadata store live here). */
  dir: string;
  /** `<dir>/model_store` (created empty). */
  modelStore: string;
  /** `<dir>/config.properties`. */
  configFile: string;
  /** TS_PID_FILE for this workspace. */
  pidFile: string;
  /** Environment for the CLI: the test's env minus TS_* variables, plus TS_PID_FILE. */
  env: NodeJS.ProcessEnv;
  /** Rewrites config.properties: loopback port-0 listeners plus `props`. Returns its path. */
  writeConfig(props?: Record<string, string>): string;
};

/** Loopback, any free port: what every e2e config starts from. */
export const LOOPBACK_LISTENERS: Readonly<Record<string, string>> = Object.freeze({
  inference_address: 'http://127.0.0.1:0',
  management_address: 'http://127.0.0.1:0',
  metrics_address: 'http://127.0.0.1:0',
});

/**
 * A temp directory with model_store/ and a config.properties binding 127.0.0.1:0. Removed after
 * the test, once any server started in it has been stopped.
 */
export function makeWorkspace(t: After, props: Record<string, string> = {}): Workspace {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'tsserve-e2e-')));
  const modelStore = path.join(dir, 'model_store');
  fs.mkdirSync(modelStore);
  const configFile = path.join(dir, 'config.properties');
  const pidFile = path.join(dir, 'tsserve.pid');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TS_') && k !== 'LOG_LOCATION' && k !== 'METRICS_LOCATION') env[k] = v;
  env.TS_PID_FILE = pidFile;
  const ws: Workspace = {
    dir,
    modelStore,
    configFile,
    pidFile,
    env,
    writeConfig(extra = {}) {
      const all = { ...LOOPBACK_LISTENERS, ...props, ...extra };
      fs.writeFileSync(configFile, Object.entries(all).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
      return configFile;
    },
  };
  ws.writeConfig();
  t.after(async () => {
    await killFromPidFile(pidFile);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return ws;
}

export type CliRun = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs `node bin/tsserve.js ...args` to completion (killed after `timeoutMs`, default 60 s). */
export function runTsserve(ws: Pick<Workspace, 'dir' | 'env'>, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [TSSERVE_BIN, ...args], { cwd: ws.dir, env: { ...ws.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child, opts.timeoutMs ?? 60_000, `tsserve ${args.join(' ')}`);
}

function collect(child: ChildProcess, timeoutMs: number, what: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    // 'exit', not 'close': a detached server may inherit nothing, but never wait on its pipes.
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ code, signal, stdout, stderr }));
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export type Addresses = { inference: string; management: string; metrics?: string };

/** Reads `Inference API bind to: URL` (Management, Metrics) lines. */
export function parseBindLines(text: string): Partial<Addresses> {
  const out: Partial<Addresses> = {};
  for (const m of text.matchAll(/^(Inference|Management|Metrics) API bind to: (\S+)$/gm)) {
    out[m[1].toLowerCase() as keyof Addresses] = m[2];
  }
  return out;
}

export type StartedServer = {
  addresses: Addresses;
  /** Everything the start printed. */
  stdout: string;
  stderr: string;
  /** `tsserve --stop` (idempotent; also run after the test). */
  stop(): Promise<CliRun>;
};

/**
 * `tsserve --start --model-store <ws.modelStore> ...args` in the background; resolves once it
 * printed `Model server started.`. Throws with the CLI's output if the start failed.
 */
export async function startBackground(t: After, ws: Workspace, args: readonly string[] = [], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<StartedServer> {
  const run = await runTsserve(ws, ['--start', '--model-store', ws.modelStore, ...args], opts);
  if (run.code !== 0 || !run.stdout.includes('Model server started.')) {
    throw new Error(`tsserve --start failed (exit ${run.code})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
  let stopped: Promise<CliRun> | undefined;
  const stop = () => (stopped ??= runTsserve(ws, ['--stop'], { timeoutMs: 70_000 }));
  // t.after hooks run in registration order, so makeWorkspace's hook (pid-file kill, then rm -rf)
  // may already have run: `tsserve --stop` cannot spawn in a removed cwd, and has nothing to stop.
  t.after(() => (fs.existsSync(ws.dir) ? stop() : undefined));
  return { addresses: requireAddresses(parseBindLines(run.stdout), run.stdout), stdout: run.stdout, stderr: run.stderr, stop };
}

export type ForegroundServer = {
  addresses: Addresses;
  child: ChildProcess;
  /** Output so far (the server keeps writing). */
  output(): { stdout: string; stderr: string };
  /** Sends `signal` (default SIGTERM) unless it already exited, and waits for the exit (bounded). */
  stop(signal?: NodeJS.Signals): Promise<CliRun>;
  /** Waits for the exit without signalling (after the test sent its own signals); 60 s bound. */
  exited(): Promise<CliRun>;
};

/** `tsserve --start --foreground ...`; resolves once `Model server started.` is printed. */
export async function startForeground(t: After, ws: Workspace, args: readonly string[] = [], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ForegroundServer> {
  const child = spawn(process.execPath, [TSSERVE_BIN, '--start', '--foreground', '--model-store', ws.modelStore, ...args], {
    cwd: ws.dir,
    env: { ...ws.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = collect(child, 10 * 60_000, 'tsserve --foreground');
  done.catch(() => {});
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (s: string) => (stdout += s));
  child.stderr!.on('data', (s: string) => (stderr += s));
  const timeoutMs = opts.timeoutMs ?? 60_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`foreground server not started within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    child.stdout!.on('data', () => {
      if (stdout.includes('Model server started.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => fail(new Error(`foreground server exited with ${code}`)));
  });
  let stopping: Promise<CliRun> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      try {
        return await done;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };
  const exited = async () => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  };
  t.after(() => stop());
  return { addresses: requireAddresses(parseBindLines(stdout), stdout), child, output: () => ({ stdout, stderr }), stop, exited };
}

function requireAddresses(a: Partial<Addresses>, stdout: string): Addresses {
  if (!a.inference || !a.management) throw new Error(`no bind lines in output:\n${stdout}`);
  return a as Addresses;
}

/** Safety net after a test: stop a server still named by the pid file (SIGTERM, then SIGKILL). */
async function killFromPidFile(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
}

// ---- HTTP -------------------------------------------------------------------------------------------

export type HttpResponse = { status: number; headers: http.IncomingHttpHeaders; body: Buffer; text: string; json<T = unknown>(): T };

/**
 * One HTTP(S) request with node:http (so a test CA can be given for HTTPS). Timeout 30 s.
 * Sends no Connection: keep-alive, so nothing lingers after the test.
 */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; ca?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpResponse> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false, ...(opts.ca ? { ca: opts.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** key_file.json of a workspace's server (token authorization on). */
export function readKeyFile(ws: Pick<Workspace, 'dir'>): { management: { key: string }; inference: { key: string }; API: { key: string } } {
  return JSON.parse(fs.readFileSync(path.join(ws.dir, 'key_file.json'), 'utf8')) as never;
}

/**
 * Cleanups registered while a shared server starts in `before` (where there is no test context);
 * `run()` in `after` runs them newest first. Pass the scope wherever an `After` is expected.
 */
export function cleanupScope(): { after(fn: () => unknown): void; run(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    after: (fn) => void fns.push(fn),
    async run() {
      for (const fn of fns.reverse()) await fn();
    },
  };
}
