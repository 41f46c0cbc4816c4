/**
 * The logger type everyone may import (a leaf, like config and errors). Creation lives in
 * server-side code (logging/create-loggers.ts); tests use `silentLogger()`.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Paths pino must never print (STYLE.md "Logging": redact authorization and keys). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  'key',
  '*.key',
  'token',
  '*.token',
];

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
