import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { httpRequest, makeWorkspace, runTsserve, startBackground, startForeground } from '../helpers/tsserve.js';

const PORT_URL = /^http:\/\/127\.0\.0\.1:[1-9]\d*$/;

/** Alive and not a zombie (an orphaned server is reaped by whatever PID 1 is, maybe never). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

test('background start prints the bind lines, refuses a second start, stops cleanly', async (t) => {
  const ws = makeWorkspace(t);
  const server = await startBackground(t, ws, ['--disable-token-auth']);
  assert.match(server.addresses.inference, PORT_URL);
  assert.match(server.addresses.management, PORT_URL);
  assert.match(server.addresses.metrics ?? '', PORT_URL);
  assert.match(server.stdout, /^Inference API bind to: .*\nManagement API bind to: .*\nMetrics API bind to: .*\nModel server started\.\n$/);

  const pid = Number(fs.readFileSync(ws.pidFile, 'utf8'));
  assert.ok(isAlive(pid));
  const models = await httpRequest(`${server.addresses.management}/models`);
  assert.equal(models.status, 200);
  assert.deepEqual(models.json(), { models: [] });

  const again = await runTsserve(ws, ['--start', '--model-store', ws.modelStore, '--disable-token-auth']);
  assert.equal(again.code, 1);
  assert.equal(again.stdout, 'TSServe is already running, please use tsserve --stop to stop TSServe.\n');
  assert.equal(Number(fs.readFileSync(ws.pidFile, 'utf8')), pid, 'the refused start leaves the pid file alone');

  const stop = await server.stop();
  assert.equal(stop.code, 0);
  assert.equal(stop.stdout, 'TSServe has stopped.\n');
  assert.equal(fs.existsSync(ws.pidFile), false);
  assert.equal(isAlive(pid), false);
  assert.match(fs.readFileSync(`${ws.dir}/logs/ts_log.log`, 'utf8'), /Torchserve stopped\./);

  const none = await runTsserve(ws, ['--stop']);
  assert.equal(none.code, 0);
  assert.equal(none.stdout, 'TSServe is not currently running.\n');
});

test('foreground start serves until SIGTERM, then exits 0 and removes the pid file', async (t) => {
  const ws = makeWorkspace(t);
  const server = await startForeground(t, ws, ['--dt']);
  assert.match(server.addresses.management, PORT_URL);
  assert.equal(Number(fs.readFileSync(ws.pidFile, 'utf8')), server.child.pid);
  assert.equal((await httpRequest(`${server.addresses.management}/models`)).status, 200);

  const again = await runTsserve(ws, ['--start', '--model-store', ws.modelStore]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /already running/);

  const end = await server.stop('SIGTERM');
  assert.equal(end.code, 0);
  assert.equal(fs.existsSync(ws.pidFile), false);
});

test('--stop stops a foreground server too', async (t) => {
  const ws = makeWorkspace(t);
  const server = await startForeground(t, ws, ['--dt']);
  const stop = await runTsserve(ws, ['--stop']);
  assert.equal(stop.code, 0);
  assert.equal(stop.stdout, 'TSServe has stopped.\n');
  const end = await server.stop();
  assert.equal(end.code, 0);
});

test('a stale pid file is removed with TorchServe\'s message', async (t) => {
  const ws = makeWorkspace(t);
  fs.writeFileSync(ws.pidFile, '999999');
  const server = await startBackground(t, ws, ['--dt']);
  assert.match(server.stdout, /^Removing orphan pid file\.\n/);
  assert.notEqual(fs.readFileSync(ws.pidFile, 'utf8'), '999999');
  await server.stop();

  fs.writeFileSync(ws.pidFile, 'garbage');
  const stop = await runTsserve(ws, ['--stop']);
  assert.equal(stop.stdout, 'TSServe is not currently running.\n');
  assert.equal(fs.existsSync(ws.pidFile), false);
});

test('usage errors exit 2 with the usage on stderr and start nothing', async (t) => {
  const ws = makeWorkspace(t);
  for (const args of [['--bogus'], ['--model-store'], ['--start', '--stop'], ['-v', '--start'], ['stray']]) {
    const run = await runTsserve(ws, args);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, /Usage: tsserve \[options\]/, args.join(' '));
    assert.equal(run.stdout, '');
  }
  assert.equal(fs.existsSync(ws.pidFile), false);
  assert.equal(fs.existsSync(`${ws.dir}/logs`), false);
});

test('--version and --help', async (t) => {
  const ws = makeWorkspace(t);
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['-v', '--version']) {
    const run = await runTsserve(ws, [flag]);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `TSServe Version is ${pkg.version}\n`);
  }
  const help = await runTsserve(ws, ['--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--start', '--stop', '--foreground', '--model-store', '--models', '--ts-config', '--log-config', '--ncs', '--no-config-snapshots', '--enable-model-api', '--disable-token-auth', '--dt', '--version']) {
    assert.ok(help.stdout.includes(flag), flag);
  }
});

/** Starts a POST whose body is only half sent; `finish()` sends the rest and resolves with the status. */
function halfSentRequest(url: string): { finish(): Promise<number>; sent: Promise<void>; status: Promise<number> } {
  const body = Buffer.alloc(100, 1);
  let resolveStatus!: (s: number) => void;
  let rejectStatus!: (e: Error) => void;
  const status = new Promise<number>((res, rej) => ((resolveStatus = res), (rejectStatus = rej)));
  const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': '100' } }, (res) => {
    res.resume();
    res.on('end', () => resolveStatus(res.statusCode ?? 0));
  });
  req.on('error', rejectStatus);
  req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
  const sent = new Promise<void>((res) => req.write(body.subarray(0, 50), () => setTimeout(res, 200)));
  return {
    sent,
    status,
    finish: () => {
      req.end(body.subarray(50));
      return status;
    },
  };
}

test('SIGTERM lets an in-flight request finish before the server exits', async (t) => {
  const ws = makeWorkspace(t);
  const server = await startForeground(t, ws, ['--dt', '--ncs']);
  const inflight = halfSentRequest(`${server.addresses.inference}/predictions/nomodel`);
  await inflight.sent;
  server.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(server.child.exitCode, null, 'still draining');
  assert.equal(await inflight.finish(), 404);
  const end = await server.exited();
  assert.equal(end.code, 0);
  assert.equal(fs.existsSync(ws.pidFile), false);
});

test('a second signal during shutdown exits at once', async (t) => {
  const ws = makeWorkspace(t);
  const server = await startForeground(t, ws, ['--dt', '--ncs']);
  const inflight = halfSentRequest(`${server.addresses.inference}/predictions/nomodel`);
  inflight.status.catch(() => {}); // the connection dies with the server
  await inflight.sent;
  server.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  server.child.kill('SIGINT');
  const end = await server.exited();
  assert.equal(end.code, 1);
  assert.ok(Date.now() - started < 5000, 'did not wait for the drain');
  assert.equal(fs.existsSync(ws.pidFile), false);
});
