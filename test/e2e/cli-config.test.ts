import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { httpRequest, makeWorkspace, runTsserve, startBackground, startForeground } from '../helpers/tsserve.js';

test('a bad value in config.properties stops the start and names file and line', async (t) => {
  const ws = makeWorkspace(t);
  fs.appendFileSync(ws.configFile, '# limits\njob_queue_size = lots\n');
  const run = await runTsserve(ws, ['--start', '--model-store', ws.modelStore, '--dt']);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `job_queue_size: invalid value "lots" from ${ws.configFile}:5: must be an integer\n`);
  assert.equal(fs.existsSync(ws.pidFile), false);
});

test('a bad value from the environment names the variable; the gate comes from the file', async (t) => {
  const ws = makeWorkspace(t, { enable_envvars_config: 'true' });
  const run = await runTsserve(ws, ['--model-store', ws.modelStore], { env: { TS_JOB_QUEUE_SIZE: '-1', TS_DEFAULT_RESPONSE_TIMEOUT: 'soon' } });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^job_queue_size: invalid value "-1" from env TS_JOB_QUEUE_SIZE: /m);
  assert.match(run.stderr, /^default_response_timeout: invalid value "soon" from env TS_DEFAULT_RESPONSE_TIMEOUT: /m);
});

test('launcher checks: model store, --ts-config, --log-config (spec §1.2)', async (t) => {
  const ws = makeWorkspace(t);
  const cases: Array<[string[], string]> = [
    [['--model-store', 'nowhere'], `--model-store directory not found: ${path.join(ws.dir, 'nowhere')}\n`],
    [['--ts-config', 'missing.properties', '--model-store', ws.modelStore], `--ts-config file not found: ${path.join(ws.dir, 'missing.properties')}\n`],
    [['--log-config', 'log.json', '--model-store', ws.modelStore], `--log-config file not found: ${path.join(ws.dir, 'log.json')}\n`],
    [['--ncs'], 'Missing mandatory parameter --model-store\n'],
  ];
  for (const [args, message] of cases) {
    const run = await runTsserve(ws, ['--start', ...args]);
    assert.equal(run.code, 1, args.join(' '));
    assert.equal(run.stderr, message);
  }
  const env = await runTsserve(ws, ['--start', '--model-store', ws.modelStore], { env: { TS_CONFIG_FILE: '/no/such.properties' } });
  assert.equal(env.stderr, '--ts-config file not found: /no/such.properties\n');
});

test('TS_CONFIG_FILE wins over --ts-config; unknown keys are warnings; a bad log config fails', async (t) => {
  const ws = makeWorkspace(t);
  const other = path.join(ws.dir, 'other.properties');
  fs.writeFileSync(other, `inference_address=http://127.0.0.1:0\nmanagement_address=http://127.0.0.1:0\nenable_metrics_api=false\nmodel_store=${ws.modelStore}\nvmargs=-Xmx1g\nno_such_key=1\n`);
  const server = await startBackground(t, ws, ['--ts-config', ws.configFile, '--dt'], { env: { TS_CONFIG_FILE: other } });
  assert.equal(server.addresses.metrics, undefined, 'metrics disabled by other.properties');
  assert.match(server.stderr, /^Warning: configuration key vmargs is not used by tsserve/m);
  assert.match(server.stderr, /^Warning: unknown configuration key no_such_key/m);
  await server.stop();

  fs.writeFileSync(path.join(ws.dir, 'log.properties'), 'ts_log.levle=debug\n');
  const bad = await runTsserve(ws, ['--model-store', ws.modelStore, '--ncs', '--log-config', 'log.properties']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid log configuration .*log\.properties/);
});

test('--log-config sets levels and files', async (t) => {
  const ws = makeWorkspace(t);
  fs.writeFileSync(path.join(ws.dir, 'log.json'), JSON.stringify({ loggers: { ts_log: { file: 'server.txt', format: 'text' }, access_log: { file: null } } }));
  const server = await startForeground(t, ws, ['--dt', '--ncs', '--log-config', 'log.json']);
  await httpRequest(`${server.addresses.management}/models`);
  await server.stop();
  assert.match(fs.readFileSync(path.join(ws.dir, 'logs/server.txt'), 'utf8'), /\[INFO \] ts_log - Management API bind to: http/);
  assert.equal(fs.existsSync(path.join(ws.dir, 'logs/access_log.log')), false);
});

test('LOG_LOCATION moves the logs', async (t) => {
  const ws = makeWorkspace(t);
  const logs = path.join(ws.dir, 'elsewhere');
  const server = await startBackground(t, ws, ['--dt'], { env: { LOG_LOCATION: logs } });
  await server.stop();
  assert.ok(fs.existsSync(path.join(logs, 'ts_log.log')));
  assert.ok(fs.readdirSync(path.join(logs, 'config')).some((n) => /^\d{17}-startup\.cfg$/.test(n)), 'startup snapshot');
});

test('a busy port fails the start with exit 1 and the address', async (t) => {
  const ws = makeWorkspace(t);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => blocker.close(resolve)));
  const port = (blocker.address() as net.AddressInfo).port;
  ws.writeConfig({ management_address: `http://127.0.0.1:${port}` });
  const run = await runTsserve(ws, ['--start', '--model-store', ws.modelStore, '--dt', '--ncs']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`Failed to bind to address: http://127\\.0\\.0\\.1:${port} \\(address already in use\\)`));
  assert.equal(fs.existsSync(ws.pidFile), false, 'a failed start leaves no pid file');
});
