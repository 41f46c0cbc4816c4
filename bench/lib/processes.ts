/**
 * Child processes of the benchmark: the floor and hand-off servers and tsserve itself (started with the real CLI).
 * Every child is stopped by its own pid; every wait has a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** The last `limit` characters a child wrote, for error messages. */
class Tail {
  private text = '';
  constructor(private readonly limit = 6000) {}
  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
  toString(): string {
    return this.text;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function stopChild(child: ChildProcess, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export type Floor = { port: number; stop: () => Promise<void> };

/**
 * Starts a bench server script (bench/floor-server.ts, bench/handoff-server.ts) and waits for its
 * `LISTENING <port>` line. `args` and `env` are passed on (the hand-off server takes the model,
 * its thread layout and the bearer key).
 */
export async function startFloor(script: string, opts: { args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Floor> {
  const child = spawn(process.execPath, [script, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  const tail = new Tail();
  const name = path.basename(script);
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopChild(child, 1000);
      reject(new Error(`${name} did not start: ${tail}`));
    }, opts.timeoutMs ?? 15_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${tail}`));
    });
  });
  return { port, stop: () => stopChild(child) };
}

export type Tsserve = {
  inferenceUrl: string;
  managementUrl: string;
  inferenceKey: string;
  managementKey: string;
  /** The command line that started it (for the report). */
  command: string;
  output: () => string;
  stop: () => Promise<void>;
};

/**
 * Starts `node bin/tsserve.js --start --foreground` in `workDir` with a generated config.properties
 * (loopback ports, token auth and metrics on, as by default), waits for key_file.json and for every
 * model to answer `GET /v2/models/<m>/ready` with 200.
 */
export async function startTsserve(opts: {
  repoRoot: string;
  workDir: string;
  modelStore: string;
  models: string[];
  readyModels: string[];
  extraProperties?: Record<string, string>;
  timeoutMs?: number;
}): Promise<Tsserve> {
  const [pi, pm, px] = [await freePort(), await freePort(), await freePort()];
  const props: Record<string, string> = {
    inference_address: `http://127.0.0.1:${pi}`,
    management_address: `http://127.0.0.1:${pm}`,
    metrics_address: `http://127.0.0.1:${px}`,
    enable_metrics_api: 'true',
    metrics_mode: 'prometheus',
    ...opts.extraProperties,
  };
  const configFile = path.join(opts.workDir, 'config.properties');
  writeFileSync(configFile, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const bin = path.join(opts.repoRoot, 'bin', 'tsserve.js');
  const args = [bin, '--start', '--foreground', '--ncs', '--model-store', opts.modelStore, '--ts-config', configFile, '--models', ...opts.models];
  const command = `node bin/tsserve.js --start --foreground --ncs --model-store <store> --ts-config <config.properties> --models ${opts.models.join(' ')}`;

  const child = spawn(process.execPath, args, {
    cwd: opts.workDir,
    env: { ...process.env, LOG_LOCATION: path.join(opts.workDir, 'logs'), METRICS_LOCATION: path.join(opts.workDir, 'logs') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new Tail();
  child.stdout!.on('data', (d: Buffer) => tail.push(d));
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  const stop = () => stopChild(child);

  const deadline = Date.now() + (opts.timeoutMs ?? 240_000);
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`tsserve: ${why}\n--- last output ---\n${tail}`);
  };
  const alive = () => child.exitCode === null && child.signalCode === null;

  const keyFile = path.join(opts.workDir, 'key_file.json');
  while (!existsSync(keyFile)) {
    if (!alive()) return fail(`exited with ${child.exitCode ?? child.signalCode}`);
    if (Date.now() > deadline) return fail('no key_file.json in time');
    await sleep(200);
  }
  let keys: { inference: { key: string }; management: { key: string } } | undefined;
  while (keys === undefined) {
    try {
      keys = JSON.parse(readFileSync(keyFile, 'utf8')) as typeof keys;
    } catch {
      if (Date.now() > deadline) return fail('unreadable key_file.json');
      await sleep(100);
    }
  }
  const inferenceUrl = `http://127.0.0.1:${pi}`;
  const auth = { authorization: `Bearer ${keys!.inference.key}` };
  for (const model of opts.readyModels) {
    for (;;) {
      if (!alive()) return fail(`exited with ${child.exitCode ?? child.signalCode}`);
      if (Date.now() > deadline) return fail(`model ${model} not ready in time`);
      const res = await fetch(`${inferenceUrl}/v2/models/${model}/ready`, { headers: auth }).catch(() => undefined);
      if (res?.status === 200) break;
      await sleep(300);
    }
  }
  return {
    inferenceUrl,
    managementUrl: `http://127.0.0.1:${pm}`,
    inferenceKey: keys!.inference.key,
    managementKey: keys!.management.key,
    command,
    output: () => tail.toString(),
    stop,
  };
}
