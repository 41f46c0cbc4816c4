/**
 * A small reader of Prometheus text exposition 0.0.4 for black-box tests: families (HELP, TYPE)
 * and samples with their labels, plus lookups by exact label set. It accepts TorchServe's trailing
 * comma in label sets and Java-style doubles (`1.0E7`, `+Inf`).
 */

export type PromSample = { name: string; labels: Record<string, string>; value: number };
export type PromFamily = { name: string; help: string; type: string };
export type Exposition = {
  families: Map<string, PromFamily>;
  samples: PromSample[];
  /** The one sample with this name and exactly these labels; undefined if none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Samples of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): PromSample[];
};

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  const v = Number(text);
  if (Number.isNaN(v) && text !== 'NaN') throw new Error(`bad sample value ${text}`);
  return v;
}

const unescape = (s: string): string => s.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));

export function parseExposition(text: string): Exposition {
  const families = new Map<string, PromFamily>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const [, kind, name, ...rest] = line.split(' ');
      const family = families.get(name!) ?? { name: name!, help: '', type: '' };
      if (kind === 'HELP') family.help = rest.join(' ');
      else family.type = rest.join(' ');
      families.set(name!, family);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = unescape(l[2]!);
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  const includes = (s: PromSample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    families,
    samples,
    value(name, labels = {}) {
      const keys = Object.keys(labels).length;
      const hit = samples.filter((s) => s.name === name && Object.keys(s.labels).length === keys && includes(s, labels));
      if (hit.length > 1) throw new Error(`${hit.length} samples of ${name} with ${JSON.stringify(labels)}`);
      return hit[0]?.value;
    },
    find(name, labels = {}) {
      return samples.filter((s) => s.name === name && includes(s, labels));
    },
  };
}
