/**
 * The logger type everyone may import (a leaf, like config and errors). Creation lives in
 * server-side code (logging/create-loggers.ts); tests use `silentLogger()`.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Paths pino must never print (STYLE.md "Logging": redact authorization and keys). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  '*.authorization',
  'cookie',
  'password',
  '*.password',
  'key',
  '*.key',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

/** Query parameter names whose values are credentials (`api_key`, `access_token`, `X-Amz-Signature`, ...). */
const SENSITIVE_PARAM = /key|token|pass|pwd|secret|auth|credential|signature|session|cookie|jwt/i;

/**
 * A URL or request target fit for a log: the values of sensitive query parameters and any
 * `user:password@` are replaced by `[REDACTED]`. Cheap when there is nothing to redact.
 */
export function redactUrl(url: string): string {
  // Absolute form (`http://user:pw@host/...`: a proxy-style request target or a download URL).
  if (url.includes('@')) url = url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1[REDACTED]@');
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const queryEnd = hash === -1 ? url.length : hash;
  const query = url
    .slice(q + 1, queryEnd)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return part;
      let name = part.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // keep the raw name
      }
      return SENSITIVE_PARAM.test(name) ? `${part.slice(0, eq)}=[REDACTED]` : part;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}${url.slice(queryEnd)}`;
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
