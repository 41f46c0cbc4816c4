/**
 * One promise chain per key: `run(key, fn)` starts `fn` only after every earlier `run` with the same
 * key has settled. The registry serialises register / scale / unregister / set-default per model
 * name with it (issue #6 "Concurrency"), so a model never ends half-changed.
 *
 *   run(a) ──► [fn1] ──► [fn2] ──► [fn3]      (same key: one after the other)
 *   run(b) ──► [fn4]                          (other keys: independent)
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Resolves when everything queued so far (any key) has settled. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
