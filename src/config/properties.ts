/**
 * Java `.properties` reader and writer (spec §2.2), as `java.util.Properties.load/store` do it:
 *
 * - one `key=value` per logical line; separator `=`, `:` or whitespace (blanks around it ignored);
 *   leading blanks of a line ignored, trailing blanks of the value KEPT;
 * - comment lines start with `#` or `!` (first non-blank character; a `#` inside a value is literal)
 *   and never continue onto the next line;
 * - a line ending in an odd number of `\` continues on the next line, whose leading blanks are dropped;
 * - escapes `\t \n \r \f \uXXXX`; a backslash before any other character is dropped (`\\ \= \: \# \!`);
 * - a repeated key keeps the last value (`toPropertyMap`).
 *
 * Beyond Java: every entry keeps the line number where its logical line starts, for error messages.
 */

/** One `key=value` entry, with the 1-based line where its logical line starts. */
export type PropertyEntry = { key: string; value: string; line: number };

export class PropertiesSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PropertiesSyntaxError';
    this.line = line;
  }
}

/** Java's "white space" inside properties files: space, tab, form feed. */
const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\f';

/** Parses properties text; entries in file order, duplicates included. Throws PropertiesSyntaxError. */
export function parseProperties(text: string): PropertyEntry[] {
  const lines = text.split(/\r\n|\r|\n/);
  const entries: PropertyEntry[] = [];
  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let line = stripLeadingBlanks(lines[i++]);
    if (line === '' || line[0] === '#' || line[0] === '!') continue;
    // Join continuation lines: an odd number of trailing backslashes continues the logical line.
    let logical = '';
    for (;;) {
      if (endsWithOddBackslashes(line)) {
        logical += line.slice(0, -1);
        if (i >= lines.length) break; // Java drops a continuation at end of input.
        line = stripLeadingBlanks(lines[i++]);
      } else {
        logical += line;
        break;
      }
    }
    entries.push(splitEntry(logical, startLine));
  }
  return entries;
}

function stripLeadingBlanks(s: string): string {
  let k = 0;
  while (k < s.length && isBlank(s[k])) k++;
  return s.slice(k);
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  for (let k = s.length - 1; k >= 0 && s[k] === '\\'; k--) n++;
  return n % 2 === 1;
}

function splitEntry(logical: string, line: number): PropertyEntry {
  // The key ends at the first unescaped '=', ':' or blank.
  let k = 0;
  let hasSeparator = false;
  while (k < logical.length) {
    const c = logical[k];
    if (c === '\\') {
      k += 2;
      continue;
    }
    if (c === '=' || c === ':') {
      hasSeparator = true;
      break;
    }
    if (isBlank(c)) break;
    k++;
  }
  const keyEnd = Math.min(k, logical.length);
  let v = keyEnd;
  if (hasSeparator) {
    v++;
  } else {
    // Whitespace separator: skip blanks, then at most one '=' or ':'.
    while (v < logical.length && isBlank(logical[v])) v++;
    if (logical[v] === '=' || logical[v] === ':') v++;
  }
  while (v < logical.length && isBlank(logical[v])) v++;
  return {
    key: unescape(logical.slice(0, keyEnd), line),
    value: unescape(logical.slice(v), line),
    line,
  };
}

function unescape(s: string, line: number): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = s[++k];
    switch (next) {
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        const hex = s.slice(k + 1, k + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new PropertiesSyntaxError(line, 'malformed \\uXXXX escape');
        out += String.fromCharCode(parseInt(hex, 16));
        k += 4;
        break;
      }
      case undefined: break; // a lone trailing backslash (only possible at end of input)
      default: out += next; // any other escaped character stands for itself
    }
  }
  return out;
}

/** Last value wins for a repeated key (Java Properties). */
export function toPropertyMap(entries: readonly PropertyEntry[]): Map<string, PropertyEntry> {
  const map = new Map<string, PropertyEntry>();
  for (const e of entries) map.set(e.key, e);
  return map;
}

/**
 * Decodes a properties file. Java reads ISO-8859-1; we take UTF-8 when the bytes are valid UTF-8
 * (what editors write today) and fall back to ISO-8859-1 otherwise (docs/compatibility.md).
 */
export function decodePropertiesFile(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('latin1').decode(bytes);
  }
}

// ---- $$NAME$$ environment placeholders (spec §2.2) ----------------------------------------------

/** `$$NAME$$` with NAME at least two characters, none of them `$` (ConfigManager#resolveEnvVarVals). */
const PLACEHOLDER = /\$\$([^$]{2,})\$\$/g;

/**
 * Replaces every `$$NAME$$` with env var NAME. Not gated by enable_envvars_config (spec §2.2).
 * Returns the names that are unset (the value then keeps the placeholder).
 */
export function resolvePlaceholders(
  value: string,
  env: Readonly<Record<string, string | undefined>>,
): { value: string; missing: string[] } {
  const missing: string[] = [];
  const out = value.replace(PLACEHOLDER, (whole, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing.push(name);
      return whole;
    }
    return v;
  });
  return { value: out, missing };
}

// ---- writer --------------------------------------------------------------------------------------

/** Escapes as Properties.store does: `\`, separators, comment starters, control and non-ASCII chars. */
function escape(s: string, isKey: boolean): string {
  let out = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    const code = s.charCodeAt(k);
    switch (c) {
      case '\\': out += '\\\\'; break;
      case '\t': out += '\\t'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\f': out += '\\f'; break;
      case '=': case ':': case '#': case '!': out += '\\' + c; break;
      case ' ':
        // Java escapes every blank of a key, and only a leading blank of a value.
        out += isKey || k === 0 ? '\\ ' : ' ';
        break;
      default:
        out += code < 0x20 || code > 0x7e ? '\\u' + code.toString(16).toUpperCase().padStart(4, '0') : c;
    }
  }
  return out;
}

/**
 * Writes a properties file the way TorchServe's snapshots look (spec §11): one `#` line per header
 * comment, then `key=value` lines with `:` and `=` escaped (`inference_address=http\://127.0.0.1\:8080`).
 * Round-trips through `parseProperties`. Output is ASCII (other characters as `\uXXXX`), ends with `\n`.
 */
export function formatProperties(
  entries: Iterable<readonly [string, string]> | Readonly<Record<string, string>>,
  headerComments: readonly string[] = [],
): string {
  const pairs: Iterable<readonly [string, string]> =
    Symbol.iterator in entries
      ? (entries as Iterable<readonly [string, string]>)
      : Object.entries(entries as Record<string, string>);
  let out = '';
  for (const comment of headerComments) {
    for (const l of comment.split(/\r\n|\r|\n/)) out += `#${l}\n`;
  }
  for (const [key, value] of pairs) out += `${escape(key, true)}=${escape(value, false)}\n`;
  return out;
}
