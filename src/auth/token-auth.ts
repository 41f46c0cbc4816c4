/**
 * Token authorization (spec §4): three keys, the key file, constant-time checks and regeneration.
 *
 * - `management` and `inference` keys expire `token_expiration_min` after they were made; the
 *   `API` key (guards only the token API) never expires.
 * - Keys are 18 random bytes in URL-safe base64 (24 characters). TorchServe uses 6 bytes / 8
 *   characters; longer is deliberately stronger (docs/compatibility.md "Security").
 * - Keys and headers are never logged.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { KEY_FILE_NAME, deleteKeyFile, writeKeyFile, type ExpiringKey, type KeyFileContent } from './key-file.js';

export type KeyKind = 'management' | 'inference' | 'API';
export type ExpiringKeyKind = 'management' | 'inference';

/** Random bytes per key (TorchServe: 6). */
export const KEY_BYTES = 18;

/** Spec §4.3: `Authorization: Bearer <token>`, case-sensitive scheme, any whitespace run, one token. */
const BEARER = /^Bearer\s+(\S+)$/;

/** `bytes` is the key's UTF-8 (ASCII) encoding, what a presented token is compared with. */
type KeyState = { key: string; bytes: Buffer; expiresAtMs: number };

export type TokenAuthOptions = {
  /** Directory that receives key_file.json (the server's working directory). */
  workDir: string;
  /** Lifetime of the management and inference keys, minutes (fractions allowed). */
  expirationMin: number;
  log: Logger;
  /** Clock in epoch milliseconds; injectable so tests can expire keys without sleeping. */
  now?: () => number;
};

export class TokenAuth {
  readonly keyFilePath: string;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #keys: Record<KeyKind, KeyState>;
  /** Holds a presented token's bytes for the comparison (every key has the same length). */
  readonly #scratch: Buffer;
  /** Key file writes run one after another, each writing the state current when it starts. */
  #writes: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(opts: TokenAuthOptions) {
    if (!(opts.expirationMin > 0) || !Number.isFinite(opts.expirationMin)) {
      throw new RangeError(`token expiration must be a positive number of minutes, got ${opts.expirationMin}`);
    }
    this.keyFilePath = path.resolve(opts.workDir, KEY_FILE_NAME);
    this.#lifetimeMs = Math.max(1, Math.round(opts.expirationMin * 60_000));
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#keys = {
      management: this.#newKey(true),
      inference: this.#newKey(true),
      API: this.#newKey(false),
    };
    this.#scratch = Buffer.alloc(this.#keys.API.bytes.length);
  }

  /** Generates the keys and writes the key file (replacing any stale one). Throws if it cannot. */
  static async create(opts: TokenAuthOptions): Promise<TokenAuth> {
    const auth = new TokenAuth(opts);
    try {
      await auth.#persist();
    } catch (err) {
      opts.log.error({ err, keyFile: auth.keyFilePath }, 'token authorization setup unsuccessful');
      throw err;
    }
    opts.log.info({ keyFile: auth.keyFilePath }, `token authorization enabled, key file located at ${auth.keyFilePath}`);
    return auth;
  }

  /**
   * Whether `authorizationHeader` carries the current, unexpired key of `kind`. The token's bytes
   * are compared with the key's by timingSafeEqual, so the time taken does not depend on how much
   * of a token of the key's length is right; other lengths fail at once, which tells only the key
   * length, and that is public (KEY_BYTES).
   */
  check(kind: KeyKind, authorizationHeader: string | undefined): boolean {
    const state = this.#keys[kind];
    const match = typeof authorizationHeader === 'string' ? BEARER.exec(authorizationHeader) : null;
    return match !== null && this.#equalsKey(match[1]!, state.bytes) && this.#now() < state.expiresAtMs;
  }

  /** Constant-time for a token as long as the key; `#scratch` saves an allocation per request. */
  #equalsKey(token: string, key: Buffer): boolean {
    if (Buffer.byteLength(token, 'utf8') !== key.length) return false;
    const scratch = this.#scratch;
    scratch.write(token, 0, 'utf8');
    return timingSafeEqual(scratch, key);
  }

  /**
   * Replaces the key of `kind` (spec §4.4): new value, new expiration, key file rewritten. The old
   * key fails from the moment this is called.
   */
  async regenerate<K extends ExpiringKeyKind>(kind: K): Promise<{ [P in K]: ExpiringKey }> {
    if (this.#closed) throw new Error('token authorization is closed');
    const state = this.#newKey(true);
    this.#keys[kind] = state;
    await this.#persist();
    this.#log.info({ type: kind }, 'key regenerated');
    return { [kind]: entry(state) } as { [P in K]: ExpiringKey };
  }

  /** The key file's content (as written). */
  snapshot(): KeyFileContent {
    return {
      management: entry(this.#keys.management),
      inference: entry(this.#keys.inference),
      API: { key: this.#keys.API.key },
    };
  }

  /** Deletes the key file (after any write in progress). Keys stay valid in memory while requests drain. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writes.catch(() => {});
    await deleteKeyFile(this.keyFilePath);
  }

  #newKey(expires: boolean): KeyState {
    const key = randomBytes(KEY_BYTES).toString('base64url');
    return { key, bytes: Buffer.from(key, 'utf8'), expiresAtMs: expires ? this.#now() + this.#lifetimeMs : Number.POSITIVE_INFINITY };
  }

  #persist(): Promise<void> {
    const run = this.#writes.catch(() => {}).then(() => writeKeyFile(this.keyFilePath, this.snapshot()));
    this.#writes = run;
    return run;
  }
}

/**
 * Startup log line about the auth mode: a clear warning when token authorization is disabled (the
 * enabled case is logged by TokenAuth.create with the key file's location).
 */
export function logAuthMode(log: Logger, tokenAuth: TokenAuth | undefined): void {
  if (tokenAuth) return;
  log.warn(
    { tokenAuthorization: 'disabled' },
    'token authorization is disabled: the server is open, anyone who can reach the inference and management addresses can call every api',
  );
}

function entry(state: KeyState): ExpiringKey {
  return { key: state.key, 'expiration time': new Date(state.expiresAtMs).toISOString() };
}
