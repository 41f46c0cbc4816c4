import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError, parseTsserveArgs, runCli, versionLine, type CliContext } from '../../../src/cli/tsserve.js';

test('start flags map to CliOptions; aliases --dt and --ncs', () => {
  assert.deepEqual(parseTsserveArgs(['--start', '--foreground', '--model-store', 'ms', '--models', 'a.mar', 'n=b.mar', '--ts-config', 'c.properties', '--log-config', 'l.json', '--ncs', '--enable-model-api', '--dt']), {
    kind: 'start',
    foreground: true,
    child: false,
    cli: { modelStore: 'ms', models: ['a.mar', 'n=b.mar'], tsConfig: 'c.properties', logConfig: 'l.json', noConfigSnapshots: true, enableModelApi: true, disableTokenAuth: true },
  });
  const long = parseTsserveArgs(['--no-config-snapshots', '--disable-token-auth']);
  assert.equal(long.kind, 'start');
  assert.equal(long.kind === 'start' && long.cli.noConfigSnapshots, true);
  assert.equal(long.kind === 'start' && long.cli.disableTokenAuth, true);
  // No flag at all means start, in the background.
  assert.deepEqual(parseTsserveArgs([]), { kind: 'start', foreground: false, child: false, cli: { noConfigSnapshots: false, enableModelApi: false, disableTokenAuth: false } });
});

test('--version, -v, --stop, --help', () => {
  assert.deepEqual(parseTsserveArgs(['-v']), { kind: 'version' });
  assert.deepEqual(parseTsserveArgs(['--version']), { kind: 'version' });
  assert.deepEqual(parseTsserveArgs(['--stop']), { kind: 'stop' });
  assert.equal(parseTsserveArgs(['--help']).kind, 'help');
  assert.match(versionLine(), /^TSServe Version is \d+\.\d+\.\d+/);
});

test('usage errors: unknown flag, missing value, exclusive flags, stray arguments', () => {
  for (const argv of [['--bogus'], ['--model-store'], ['--start', '--stop'], ['-v', '--stop'], ['--version', '--start'], ['x']]) {
    assert.throws(() => parseTsserveArgs(argv), (e: unknown) => e instanceof UsageError && /Usage: tsserve/.test(e.usage), argv.join(' '));
  }
});

function ctx(argv: string[], dir: string): CliContext & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    argv,
    env: { TS_PID_FILE: path.join(dir, 'pid') },
    cwd: dir,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    serverCommand: { execPath: process.execPath, args: ['-e', 'process.exit(3)', '--'] },
    out: () => out,
    err: () => err,
  };
}

test('runCli: exit codes and messages without starting anything', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsserve-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const usage = ctx(['--nope'], dir);
  assert.deepEqual(await runCli(usage), { kind: 'exit', code: 2 });
  assert.match(usage.err(), /^tsserve: unknown option '--nope'\n\nUsage: tsserve/);

  const stop = ctx(['--stop'], dir);
  assert.deepEqual(await runCli(stop), { kind: 'exit', code: 0 });
  assert.equal(stop.out(), 'TSServe is not currently running.\n');

  const noStore = ctx(['--ncs'], dir);
  assert.deepEqual(await runCli(noStore), { kind: 'exit', code: 1 });
  assert.equal(noStore.err(), 'Missing mandatory parameter --model-store\n');

  fs.writeFileSync(path.join(dir, 'pid'), String(process.pid));
  const running = ctx(['--model-store', dir], dir);
  assert.deepEqual(await runCli(running), { kind: 'exit', code: 1 });
  assert.equal(running.out(), 'TSServe is already running, please use tsserve --stop to stop TSServe.\n');
  fs.rmSync(path.join(dir, 'pid'));

  const fg = ctx(['--foreground', '--model-store', dir, '--ncs'], dir);
  const serve = await runCli(fg);
  assert.equal(serve.kind, 'serve');
  assert.equal(serve.kind === 'serve' && serve.config.modelStore, dir);
  assert.equal(serve.kind === 'serve' && serve.child, false);

  // The background launcher reports a server process that dies before it is ready.
  const bg = ctx(['--model-store', dir, '--ncs'], dir);
  assert.deepEqual(await runCli(bg), { kind: 'exit', code: 1 });
  assert.match(bg.err(), /TSServe exited during startup \(exit code 3\)/);
});
