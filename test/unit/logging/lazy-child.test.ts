import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Logger } from '../../../src/logger.js';
import { lazyChildFactory } from '../../../src/logging/lazy-child.js';

function recording(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level, base: null }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  let children = 0;
  const child = log.child;
  log.child = function (this: Logger, ...args: Parameters<Logger['child']>) {
    children++;
    return child.apply(this, args);
  } as Logger['child'];
  return { log, lines, children: () => children };
}

test('no child logger is made until a line is written at an enabled level', () => {
  const { log, lines, children } = recording('info');
  const make = lazyChildFactory(log);
  const lazy = make({ reqId: 'r1' });
  lazy.debug('below the level');
  lazy.trace({ a: 1 }, 'below too');
  assert.equal(children(), 0);
  assert.equal(lines.length, 0);
  assert.equal(lazy.isLevelEnabled('debug'), false);
  assert.equal(lazy.level, 'info');

  lazy.info({ model: 'm' }, 'hello %s', 'there');
  lazy.error('second');
  assert.equal(children(), 1, 'made once, then reused');
  assert.deepEqual(
    lines.map(({ time: _t, ...rest }) => rest),
    [
      { level: 30, reqId: 'r1', model: 'm', msg: 'hello there' },
      { level: 50, reqId: 'r1', msg: 'second' },
    ],
  );
});

test('children of a lazy child, bindings and level changes behave like a real child', () => {
  const { log, lines } = recording('info');
  const lazy = lazyChildFactory(log)({ reqId: 'r2' });
  assert.deepEqual(lazy.bindings(), { reqId: 'r2' });
  lazy.child({ step: 'auth' }).warn('nested');
  assert.equal(lines.at(-1)!.reqId, 'r2');
  assert.equal(lines.at(-1)!.step, 'auth');

  lazy.level = 'debug';
  lazy.debug('now visible');
  assert.equal(lines.at(-1)!.msg, 'now visible');
  assert.equal(log.isLevelEnabled('debug'), false, 'the parent keeps its level');

  // Stand-ins of one factory do not share state.
  const make = lazyChildFactory(log);
  const a = make({ reqId: 'a' });
  const b = make({ reqId: 'b' });
  b.info('from b');
  a.info('from a');
  assert.deepEqual(lines.slice(-2).map((l) => [l.reqId, l.msg]), [['b', 'from b'], ['a', 'from a']]);
});
