import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AlreadyRunningError, acquirePidFile, pidFilePath, readPidFile, releasePidFile, waitForExit } from '../../../src/process/pid-file.js';

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsserve-pid-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('pid file location: TS_PID_FILE, else <tmpdir>/.tsserve.pid', () => {
  assert.equal(pidFilePath({}, '/tmp/x'), '/tmp/x/.tsserve.pid');
  assert.equal(pidFilePath({ TS_PID_FILE: '/run/ts.pid' }, '/tmp/x'), '/run/ts.pid');
  assert.equal(pidFilePath({ TS_PID_FILE: '' }, '/tmp/x'), '/tmp/x/.tsserve.pid');
});

test('states: none, running (this process), orphan (dead pid or garbage)', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'p');
  assert.deepEqual(readPidFile(file), { kind: 'none' });
  fs.writeFileSync(file, String(process.pid));
  assert.deepEqual(readPidFile(file), { kind: 'running', pid: process.pid });
  fs.writeFileSync(file, '999999999');
  assert.deepEqual(readPidFile(file), { kind: 'orphan', pid: 999999999 });
  fs.writeFileSync(file, 'not a pid');
  assert.deepEqual(readPidFile(file), { kind: 'orphan', pid: undefined });
});

test('a live process that is not tsserve does not count as running (pid reuse)', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'p');
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  await new Promise((r) => sleeper.once('spawn', r));
  fs.writeFileSync(file, String(sleeper.pid));
  assert.equal(readPidFile(file).kind, fs.existsSync('/proc/self/cmdline') ? 'orphan' : 'running');
});

test('acquire: writes the pid, refuses a live server, replaces an orphan; release only removes our own', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'sub', 'p');
  acquirePidFile(file, process.pid);
  assert.equal(fs.readFileSync(file, 'utf8'), String(process.pid));
  acquirePidFile(file, process.pid); // idempotent for the owner
  assert.throws(() => acquirePidFile(file, 12345), (e: unknown) => e instanceof AlreadyRunningError && e.message === 'TSServe is already running, please use tsserve --stop to stop TSServe.');

  releasePidFile(file, 12345);
  assert.ok(fs.existsSync(file), 'not ours: kept');
  releasePidFile(file, process.pid);
  assert.equal(fs.existsSync(file), false);

  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '999999999');
  let orphans = 0;
  acquirePidFile(file, 4242, () => orphans++);
  assert.equal(orphans, 1);
  assert.equal(fs.readFileSync(file, 'utf8'), '4242');
});

test('waitForExit: true once the process is gone, false on timeout', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  assert.equal(await waitForExit(child.pid!, 200, 20), false);
  child.kill('SIGTERM');
  assert.equal(await waitForExit(child.pid!, 5000, 20), true);
});
