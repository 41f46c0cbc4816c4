/**
 * A child logger that costs nothing until it writes. Fastify makes a child logger carrying `reqId`
 * for every request, and pino's `child()` serialises the bindings and rebuilds the level methods
 * (about 1.5 µs), while most requests never log a line: the access line has its own logger.
 *
 * `lazyChild(parent, bindings)` returns a stand-in whose log methods create the real child the
 * first time a line at an enabled level is written; until then it is one small object. Everything
 * the stand-in does not override (flush, levels, isLevelEnabled of the parent, ...) is the
 * parent's, which has the same level.
 */
import type { Bindings, ChildLoggerOptions } from 'pino';
import type { Logger } from '../logger.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

type Lazy = Logger & { _lazyBindings: Bindings; _lazyReal: Logger | undefined };

/** Per parent, the prototype of its stand-ins (built once). */
export type LazyChildFactory = (bindings: Bindings) => Logger;

/** Returns a function that makes lazy children of `parent`. */
export function lazyChildFactory(parent: Logger): LazyChildFactory {
  const real = (self: Lazy): Logger => (self._lazyReal ??= parent.child(self._lazyBindings));
  const proto = Object.create(parent) as Record<string, unknown>;
  for (const level of LEVELS) {
    proto[level] = function (this: Lazy, ...args: unknown[]): void {
      const child = this._lazyReal;
      if (child === undefined && !parent.isLevelEnabled(level)) return;
      (real(this)[level] as (...a: unknown[]) => void)(...args);
    };
  }
  proto.child = function (this: Lazy, bindings: Bindings, options?: ChildLoggerOptions) {
    return real(this).child(bindings, options);
  };
  proto.bindings = function (this: Lazy) {
    return real(this).bindings();
  };
  proto.setBindings = function (this: Lazy, bindings: Bindings) {
    real(this).setBindings(bindings);
  };
  proto.isLevelEnabled = function (this: Lazy, level: string) {
    return (this._lazyReal ?? parent).isLevelEnabled(level);
  };
  Object.defineProperty(proto, 'level', {
    get(this: Lazy) {
      return (this._lazyReal ?? parent).level;
    },
    set(this: Lazy, value: string) {
      real(this).level = value;
    },
  });
  return (bindings) => {
    const lazy = Object.create(proto) as Lazy;
    lazy._lazyBindings = bindings;
    lazy._lazyReal = undefined;
    return lazy;
  };
}
