import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureLimiter } from '../../../src/auth/failure-limiter.js';

function clock(start = 1_000_000) {
  let ms = start;
  return { now: () => ms, advance: (d: number) => void (ms += d) };
}

test('more than `limit` failures within the window block the address until the window passes', () => {
  const c = clock();
  const l = new FailureLimiter({ limit: 3, windowSec: 60, now: c.now });
  for (let i = 0; i < 3; i++) {
    assert.equal(l.blockedForSec('1.2.3.4'), undefined);
    assert.equal(l.recordFailure('1.2.3.4'), undefined);
  }
  assert.equal(l.blockedForSec('1.2.3.4'), undefined, 'exactly the limit is still allowed');
  c.advance(10_500);
  assert.equal(l.recordFailure('1.2.3.4'), 50, 'the (limit+1)th failure is over: Retry-After = rest of window, rounded up');
  assert.equal(l.blockedForSec('1.2.3.4'), 50);
  assert.equal(l.blockedForSec('5.6.7.8'), undefined, 'other addresses are unaffected');
  c.advance(49_000);
  assert.equal(l.blockedForSec('1.2.3.4'), 1, 'never below 1 second');
  c.advance(500);
  assert.equal(l.blockedForSec('1.2.3.4'), undefined, 'window over');
  assert.equal(l.recordFailure('1.2.3.4'), undefined, 'a new window starts from zero');
});

test('the window is fixed from the first failure', () => {
  const c = clock();
  const l = new FailureLimiter({ limit: 2, windowSec: 10, now: c.now });
  l.recordFailure('a');
  c.advance(9_000);
  l.recordFailure('a');
  c.advance(1_000); // first window ended
  assert.equal(l.recordFailure('a'), undefined);
  assert.equal(l.recordFailure('a'), undefined);
  assert.equal(l.recordFailure('a'), 10);
});

test('limit 0 turns the limiter off', () => {
  const l = new FailureLimiter({ limit: 0, windowSec: 60 });
  assert.equal(l.enabled, false);
  for (let i = 0; i < 1000; i++) assert.equal(l.recordFailure('a'), undefined);
  assert.equal(l.blockedForSec('a'), undefined);
  assert.equal(l.size, 0);
});

test('memory is bounded: expired entries are swept first, then the oldest windows are dropped', () => {
  const c = clock();
  const l = new FailureLimiter({ limit: 1, windowSec: 10, maxAddresses: 100, now: c.now });
  for (let i = 0; i < 100; i++) l.recordFailure(`old-${i}`);
  c.advance(5_000);
  for (let i = 0; i < 1000; i++) {
    l.recordFailure(`new-${i}`);
    assert.ok(l.size <= 100);
  }
  assert.equal(l.size, 100);
  // The newest addresses are still tracked.
  l.recordFailure('new-999');
  assert.equal(l.blockedForSec('new-999'), 10);
  c.advance(10_000);
  l.recordFailure('after');
  assert.equal(l.size, 1, 'all expired entries swept when room was needed');
});

test('rejects invalid options; close forgets everything', () => {
  assert.throws(() => new FailureLimiter({ limit: -1, windowSec: 60 }), RangeError);
  assert.throws(() => new FailureLimiter({ limit: 1, windowSec: 0 }), RangeError);
  const l = new FailureLimiter({ limit: 1, windowSec: 60 });
  l.recordFailure('a');
  l.recordFailure('a');
  assert.ok(l.blockedForSec('a') !== undefined);
  l.close();
  assert.equal(l.size, 0);
  assert.equal(l.blockedForSec('a'), undefined);
});
