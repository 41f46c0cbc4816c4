/**
 * An in-memory evaluator of the OpenSearch query DSL over model group documents
 * (model-groups.md §7), with the mapping of `.plugins-ml-model-group`
 * (ml-commons `index-mappings/ml_model_group.json`):
 *
 *   name, backend_roles            text + `.keyword` (ignore_above 256)
 *   description                    text
 *   access, model_group_id, _id    keyword
 *   latest_version                 integer
 *   created_time, last_updated_time date (epoch millis or strict_date_time)
 *   owner                          nested: name (text + keyword), backend_roles, roles,
 *                                  custom_attribute_names (text + keyword)
 *
 * As in OpenSearch, `owner.*` fields are only visible inside a `nested` query with path `owner`.
 * Text fields use an approximation of the standard analyzer (Unicode word tokens, lower-cased).
 * Scores are not BM25: every matching scoring clause adds 1 (filter context adds 0); hits with
 * equal scores keep insertion order. Unsupported clauses answer 400 naming the clause.
 */
import type { GroupRecord } from '../store/store.js';
import { OpenSearchError, illegalArgument } from './errors.js';

export const GROUP_INDEX = '.plugins-ml-model-group';
const MAX_RESULT_WINDOW = 10_000;
const KEYWORD_IGNORE_ABOVE = 256;

type FieldType = 'text' | 'keyword' | 'integer' | 'date';
type FieldDef = { type: FieldType; path: string[]; nested?: 'owner'; ignoreAbove?: number };

const textWithKeyword = (name: string, nested?: 'owner', ignoreAbove?: number): Record<string, FieldDef> => {
  const path = name.split('.');
  return {
    [name]: { type: 'text', path, ...(nested ? { nested } : {}) },
    [`${name}.keyword`]: { type: 'keyword', path, ...(nested ? { nested } : {}), ...(ignoreAbove ? { ignoreAbove } : {}) },
  };
};

const MAPPING: Record<string, FieldDef> = {
  _id: { type: 'keyword', path: ['_id'] },
  ...textWithKeyword('name', undefined, KEYWORD_IGNORE_ABOVE),
  description: { type: 'text', path: ['description'] },
  latest_version: { type: 'integer', path: ['latest_version'] },
  model_group_id: { type: 'keyword', path: ['model_group_id'] },
  ...textWithKeyword('backend_roles', undefined, KEYWORD_IGNORE_ABOVE),
  access: { type: 'keyword', path: ['access'] },
  created_time: { type: 'date', path: ['created_time'] },
  last_updated_time: { type: 'date', path: ['last_updated_time'] },
  ...textWithKeyword('owner.name', 'owner', KEYWORD_IGNORE_ABOVE),
  ...textWithKeyword('owner.backend_roles', 'owner'),
  ...textWithKeyword('owner.roles', 'owner'),
  ...textWithKeyword('owner.custom_attribute_names', 'owner'),
};

const NESTED_PATHS = new Set(['owner']);

/** OpenSearch query types this evaluator does not implement (400 "not supported", not "unknown"). */
const KNOWN_UNSUPPORTED = new Set([
  'query_string', 'simple_query_string', 'wildcard', 'regexp', 'fuzzy', 'match_phrase', 'match_phrase_prefix',
  'match_bool_prefix', 'multi_match', 'combined_fields', 'dis_max', 'function_score', 'script_score', 'boosting',
  'has_child', 'has_parent', 'parent_id', 'script', 'more_like_this', 'terms_set', 'intervals', 'distance_feature',
  'rank_feature', 'wrapper', 'pinned', 'percolate', 'knn', 'neural', 'hybrid', 'geo_shape', 'geo_bounding_box',
  'geo_distance', 'geo_polygon', 'span_term', 'span_first', 'span_near', 'span_or', 'span_not', 'span_containing',
  'span_within', 'span_multi', 'field_masking_span', 'type',
]);

// ---- documents and evaluation context -----------------------------------------------------------

type Ctx = { id: string; source: Record<string, unknown>; scope: 'root' | 'owner' };

/** The indexed values of `field` for the document in `ctx`; undefined = unmapped. */
function valuesOf(field: string, ctx: Ctx): { def: FieldDef; values: unknown[] } | undefined {
  const def = MAPPING[field];
  if (!def) return undefined;
  const inScope = ctx.scope === 'root' ? def.nested === undefined : def.nested === ctx.scope;
  if (!inScope) return { def, values: [] };
  let raw: unknown;
  if (def.path[0] === '_id') raw = ctx.id;
  else {
    raw = ctx.source;
    for (const key of def.path) raw = isObject(raw) ? raw[key] : undefined;
  }
  const list = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
  const values = def.ignoreAbove ? list.filter((v) => typeof v !== 'string' || v.length <= def.ignoreAbove!) : list;
  return { def, values };
}

/** Standard-analyzer approximation: Unicode word tokens (keeping inner `.`/`'`), lower-cased. */
export function analyze(text: string): string[] {
  return (text.match(/[\p{L}\p{N}_]+(?:['’.][\p{L}\p{N}_]+)*/gu) ?? []).map((t) => t.toLowerCase());
}

/** Query values are coerced like OpenSearch does for a field of this type. */
function coerce(def: FieldDef, field: string, value: unknown): string | number {
  if (def.type === 'integer') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(n)) throw shardError(`failed to create query: For input string: "${String(value)}" [${field}]`);
    return n;
  }
  if (def.type === 'date') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Date.parse(String(value));
    if (!Number.isFinite(n)) throw shardError(`failed to parse date field [${String(value)}] with format [strict_date_time||epoch_millis]`);
    return n;
  }
  if (value === null || typeof value === 'object') throw parsingError(`[${field}] query value must be a string, number or boolean`);
  return String(value);
}

// ---- compiling queries ------------------------------------------------------------------------

/** A compiled query: the score of a matching document, or null when it does not match. */
type Matcher = (ctx: Ctx) => number | null;

function parsingError(reason: string): OpenSearchError {
  return new OpenSearchError(400, 'parsing_exception', reason, 'SEARCH_QUERY_INVALID');
}

function shardError(reason: string): OpenSearchError {
  return new OpenSearchError(400, 'query_shard_exception', reason, 'SEARCH_QUERY_INVALID');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function compileQuery(query: unknown): Matcher {
  if (!isObject(query)) throw parsingError('query malformed, must be an object');
  const keys = Object.keys(query);
  if (keys.length !== 1) {
    throw parsingError(keys.length === 0 ? 'query malformed, empty clause found' : `[${keys[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME] [${keys[1]}]`);
  }
  const type = keys[0]!;
  const body = query[type];
  switch (type) {
    case 'match_all':
      return () => 1;
    case 'match_none':
      return () => null;
    case 'term':
      return compileTerm(body);
    case 'terms':
      return compileTerms(body);
    case 'ids':
      return compileIds(body);
    case 'match':
      return compileMatch(body);
    case 'bool':
      return compileBool(body);
    case 'nested':
      return compileNested(body);
    case 'exists':
      return compileExists(body);
    case 'range':
      return compileRange(body);
    case 'prefix':
      return compilePrefix(body);
    case 'constant_score':
      return compileConstantScore(body);
    default:
      if (KNOWN_UNSUPPORTED.has(type)) {
        throw illegalArgument(`query [${type}] is not supported by model group search`, 'SEARCH_QUERY_UNSUPPORTED');
      }
      throw new OpenSearchError(400, 'parsing_exception', `unknown query [${type}]`, 'SEARCH_QUERY_UNSUPPORTED');
  }
}

/** `{field: value}` or `{field: {value|query: ..., options}}` with exactly one field. */
function singleField(clause: string, body: unknown, valueKey: string): { field: string; value: unknown; options: Record<string, unknown> } {
  if (!isObject(body)) throw parsingError(`[${clause}] query malformed, no start_object after query name`);
  const fields = Object.keys(body).filter((k) => k !== 'boost' && k !== '_name');
  if (fields.length === 0) throw parsingError(`[${clause}] query malformed, no field specified`);
  if (fields.length > 1) throw parsingError(`[${clause}] query doesn't support multiple fields, found [${fields[0]}] and [${fields[1]}]`);
  const field = fields[0]!;
  const spec = body[field];
  if (isObject(spec)) {
    if (!(valueKey in spec)) throw parsingError(`[${clause}] query malformed, [${valueKey}] is required for [${field}]`);
    return { field, value: spec[valueKey], options: spec };
  }
  return { field, value: spec, options: {} };
}

function termMatches(def: FieldDef, values: unknown[], wanted: string | number, caseInsensitive: boolean): boolean {
  if (def.type === 'text') {
    const w = String(wanted);
    return values.some((v) => analyze(String(v)).some((t) => (caseInsensitive ? t === w.toLowerCase() : t === w)));
  }
  if (def.type === 'integer' || def.type === 'date') return values.some((v) => Number(v) === wanted);
  const w = String(wanted);
  return values.some((v) => (caseInsensitive ? String(v).toLowerCase() === w.toLowerCase() : String(v) === w));
}

function compileTerm(body: unknown): Matcher {
  const { field, value, options } = singleField('term', body, 'value');
  const def = MAPPING[field];
  if (!def) return () => null;
  const wanted = coerce(def, field, value);
  const ci = options.case_insensitive === true;
  return (ctx) => {
    const got = valuesOf(field, ctx);
    return got && termMatches(got.def, got.values, wanted, ci) ? 1 : null;
  };
}

function compileTerms(body: unknown): Matcher {
  if (!isObject(body)) throw parsingError('[terms] query malformed, no start_object after query name');
  const fields = Object.keys(body).filter((k) => k !== 'boost' && k !== '_name');
  if (fields.length !== 1) throw parsingError(`[terms] query requires exactly one field, found [${fields.join(', ')}]`);
  const field = fields[0]!;
  const list = body[field];
  if (isObject(list)) throw illegalArgument('terms lookup is not supported by model group search', 'SEARCH_QUERY_UNSUPPORTED');
  if (!Array.isArray(list)) throw parsingError(`[terms] query does not support [${field}] without an array of values`);
  const def = MAPPING[field];
  if (!def) return () => null;
  const wanted = list.map((v) => coerce(def, field, v));
  return (ctx) => {
    const got = valuesOf(field, ctx);
    return got && wanted.some((w) => termMatches(got.def, got.values, w, false)) ? 1 : null;
  };
}

function compileIds(body: unknown): Matcher {
  if (!isObject(body) || !Array.isArray(body.values)) throw parsingError('[ids] query malformed, [values] must be an array');
  const ids = new Set(body.values.map(String));
  return (ctx) => (ctx.scope === 'root' && ids.has(ctx.id) ? 1 : null);
}

function compileMatch(body: unknown): Matcher {
  const { field, value, options } = singleField('match', body, 'query');
  const def = MAPPING[field];
  if (!def) return () => null;
  if (def.type !== 'text') {
    const wanted = coerce(def, field, value);
    return (ctx) => {
      const got = valuesOf(field, ctx);
      return got && termMatches(got.def, got.values, wanted, false) ? 1 : null;
    };
  }
  const tokens = [...new Set(analyze(String(coerce(def, field, value))))];
  const operator = String(options.operator ?? 'or').toLowerCase();
  if (operator !== 'or' && operator !== 'and') throw parsingError(`[match] query does not support [operator] value [${String(options.operator)}]`);
  const required = operator === 'and' ? tokens.length : minimumShouldMatch(options.minimum_should_match, tokens.length, 1);
  return (ctx) => {
    if (tokens.length === 0) return null;
    const got = valuesOf(field, ctx);
    if (!got) return null;
    const docTokens = new Set(got.values.flatMap((v) => analyze(String(v))));
    const hits = tokens.filter((t) => docTokens.has(t)).length;
    return hits >= Math.max(required, 1) ? hits : null;
  };
}

/** `minimum_should_match`: integer, negative integer, or (negative) percentage of `optional`. */
function minimumShouldMatch(spec: unknown, optional: number, fallback: number): number {
  if (spec === undefined || spec === null) return fallback;
  const s = String(spec).trim();
  let n: number;
  const pct = /^(-?\d+)%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    n = p < 0 ? optional - Math.floor((optional * -p) / 100) : Math.floor((optional * p) / 100);
  } else if (/^-?\d+$/.test(s)) {
    const i = Number(s);
    n = i < 0 ? optional + i : i;
  } else {
    throw illegalArgument(`minimum_should_match [${s}] is not supported by model group search`, 'SEARCH_QUERY_UNSUPPORTED');
  }
  return Math.max(0, Math.min(n, optional));
}

const BOOL_KEYS = new Set(['must', 'filter', 'should', 'must_not', 'minimum_should_match', 'boost', '_name', 'adjust_pure_negative']);

function compileBool(body: unknown): Matcher {
  if (!isObject(body)) throw parsingError('[bool] query malformed, no start_object after query name');
  for (const k of Object.keys(body)) if (!BOOL_KEYS.has(k)) throw parsingError(`[bool] query does not support [${k}]`);
  const list = (v: unknown): Matcher[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(compileQuery));
  const must = list(body.must);
  const filter = list(body.filter);
  const should = list(body.should);
  const mustNot = list(body.must_not);
  // OpenSearch: with no must/filter clause at least one should clause must match.
  const fallback = must.length === 0 && filter.length === 0 ? 1 : 0;
  const required = minimumShouldMatch(body.minimum_should_match, should.length, should.length > 0 ? fallback : 0);
  return (ctx) => {
    let score = 0;
    for (const m of must) {
      const s = m(ctx);
      if (s === null) return null;
      score += s;
    }
    for (const m of filter) if (m(ctx) === null) return null;
    for (const m of mustNot) if (m(ctx) !== null) return null;
    let matched = 0;
    for (const m of should) {
      const s = m(ctx);
      if (s !== null) {
        matched++;
        score += s;
      }
    }
    return matched >= required ? score : null;
  };
}

function compileNested(body: unknown): Matcher {
  if (!isObject(body)) throw parsingError('[nested] query malformed, no start_object after query name');
  const nestedPath = body.path;
  if (typeof nestedPath !== 'string') throw parsingError('[nested] requires \'path\' field');
  if (body.query === undefined) throw parsingError('[nested] requires \'query\' field');
  if (!NESTED_PATHS.has(nestedPath)) {
    if (body.ignore_unmapped === true) return () => null;
    throw shardError(`failed to create query: [nested] failed to find nested object under path [${nestedPath}]`);
  }
  const inner = compileQuery(body.query);
  const scoreMode = String(body.score_mode ?? 'avg').toLowerCase();
  return (ctx) => {
    if (ctx.scope !== 'root' || !isObject(ctx.source[nestedPath])) return null;
    const s = inner({ id: ctx.id, source: ctx.source, scope: 'owner' });
    if (s === null) return null;
    return scoreMode === 'none' ? 0 : s;
  };
}

function compileExists(body: unknown): Matcher {
  if (!isObject(body) || typeof body.field !== 'string') throw parsingError('[exists] must be provided with a [field]');
  const field = body.field;
  return (ctx) => {
    const got = valuesOf(field, ctx);
    return got && got.values.length > 0 ? 1 : null;
  };
}

function compileRange(body: unknown): Matcher {
  if (!isObject(body)) throw parsingError('[range] query malformed, no start_object after query name');
  const fields = Object.keys(body).filter((k) => k !== 'boost' && k !== '_name');
  if (fields.length !== 1) throw parsingError(`[range] query doesn't support multiple fields, found [${fields.join(', ')}]`);
  const field = fields[0]!;
  const spec = body[field];
  if (!isObject(spec)) throw parsingError(`[range] query malformed, no start_object after [${field}]`);
  const def = MAPPING[field];
  if (!def) return () => null;
  const bounds: [string, string | number][] = [];
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'format' || k === 'time_zone' || k === 'boost' || k === 'relation') continue;
    if (k === 'from' || k === 'to' || k === 'include_lower' || k === 'include_upper') {
      throw illegalArgument(`[range] option [${k}] is not supported by model group search; use gt, gte, lt or lte`, 'SEARCH_QUERY_UNSUPPORTED');
    }
    if (!['gt', 'gte', 'lt', 'lte'].includes(k)) throw parsingError(`[range] query does not support [${k}]`);
    if (v !== null) bounds.push([k, coerce(def, field, v)]);
  }
  const numeric = def.type === 'integer' || def.type === 'date';
  const inRange = (raw: unknown): boolean => {
    const v: string | number = numeric ? Number(raw) : String(raw);
    return bounds.every(([op, b]) => (op === 'gt' ? v > b : op === 'gte' ? v >= b : op === 'lt' ? v < b : v <= b));
  };
  return (ctx) => {
    const got = valuesOf(field, ctx);
    if (!got) return null;
    const candidates = def.type === 'text' ? got.values.flatMap((v) => analyze(String(v))) : got.values;
    return candidates.some(inRange) ? 1 : null;
  };
}

function compilePrefix(body: unknown): Matcher {
  const { field, value, options } = singleField('prefix', body, 'value');
  const def = MAPPING[field];
  if (!def) return () => null;
  const ci = options.case_insensitive === true;
  const p = ci ? String(value).toLowerCase() : String(value);
  return (ctx) => {
    const got = valuesOf(field, ctx);
    if (!got) return null;
    const candidates = def.type === 'text' ? got.values.flatMap((v) => analyze(String(v))) : got.values.map(String);
    return candidates.some((c) => (ci ? c.toLowerCase() : c).startsWith(p)) ? 1 : null;
  };
}

function compileConstantScore(body: unknown): Matcher {
  if (!isObject(body) || body.filter === undefined) throw parsingError('[constant_score] requires a \'filter\' element');
  const inner = compileQuery(body.filter);
  const boost = typeof body.boost === 'number' ? body.boost : 1;
  return (ctx) => (inner(ctx) === null ? null : boost);
}

// ---- search requests ----------------------------------------------------------------------------

type SortKey = { field: string; order: 'asc' | 'desc' };
type SourceFilter = false | { includes: string[]; excludes: string[] };

export type SearchRequest = {
  query: Record<string, unknown> | undefined;
  size: number;
  from: number;
  sort: SortKey[] | undefined;
  source: SourceFilter;
  trackTotalHits: boolean | number;
  trackScores: boolean;
};

const IGNORED_TOP_LEVEL = new Set(['version', 'seq_no_primary_term', 'timeout', 'explain', 'stored_fields', 'docvalue_fields', 'profile']);
const UNSUPPORTED_TOP_LEVEL = new Set([
  'aggs', 'aggregations', 'highlight', 'suggest', 'collapse', 'search_after', 'post_filter', 'rescore', 'script_fields',
  'indices_boost', 'min_score', 'terminate_after', 'slice', 'pit', 'ext', 'fields', 'runtime_mappings', 'stats',
]);

function intParam(name: string, v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw parsingError(`[${name}] must be an integer, got [${String(v)}]`);
  if (n < 0) throw illegalArgument(`[${name}] parameter cannot be negative, found [${n}]`, 'SEARCH_QUERY_INVALID');
  return n;
}

/** Parses an OpenSearch search body (already JSON-decoded). Throws OpenSearchError 400. */
export function parseSearchBody(body: Record<string, unknown>): SearchRequest {
  for (const key of Object.keys(body)) {
    if (UNSUPPORTED_TOP_LEVEL.has(key)) throw illegalArgument(`[${key}] is not supported by model group search`, 'SEARCH_QUERY_UNSUPPORTED');
    if (!['query', 'size', 'from', 'sort', '_source', 'track_total_hits', 'track_scores'].includes(key) && !IGNORED_TOP_LEVEL.has(key)) {
      throw parsingError(`Unknown key for a ${typeof body[key] === 'object' ? 'START_OBJECT' : 'VALUE'} in [${key}].`);
    }
  }
  const size = intParam('size', body.size, 10);
  const from = intParam('from', body.from, 0);
  if (from + size > MAX_RESULT_WINDOW) {
    throw illegalArgument(
      `Result window is too large, from + size must be less than or equal to: [${MAX_RESULT_WINDOW}] but was [${from + size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.`,
      'SEARCH_WINDOW_TOO_LARGE',
    );
  }
  let query: Record<string, unknown> | undefined;
  if (body.query !== undefined) {
    if (!isObject(body.query)) throw parsingError('[query] must be an object');
    query = body.query;
    compileQuery(query); // report syntax errors before any filtering
  }
  const tth = body.track_total_hits;
  if (tth !== undefined && typeof tth !== 'boolean' && !(typeof tth === 'number' && Number.isInteger(tth))) {
    throw parsingError('[track_total_hits] must be a boolean or an integer');
  }
  return {
    query,
    size,
    from,
    sort: body.sort === undefined ? undefined : parseSort(body.sort),
    source: parseSourceFilter(body._source),
    trackTotalHits: tth ?? true,
    trackScores: body.track_scores === true,
  };
}

const TEXT_SORT_MESSAGE = (field: string): string =>
  `Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [${field}] in order to load field data by uninverting the inverted index. Note that this can use significant memory.`;

function parseSort(spec: unknown): SortKey[] {
  const items = Array.isArray(spec) ? spec : [spec];
  return items.map((item): SortKey => {
    let field: string;
    let order: unknown;
    if (typeof item === 'string') {
      field = item;
    } else if (isObject(item) && Object.keys(item).length === 1) {
      field = Object.keys(item)[0]!;
      const o = item[field];
      order = isObject(o) ? o.order : o;
      if (isObject(o)) {
        for (const k of Object.keys(o)) {
          if (k !== 'order' && k !== 'unmapped_type') throw illegalArgument(`sort option [${k}] is not supported by model group search`, 'SEARCH_QUERY_UNSUPPORTED');
        }
      }
    } else {
      throw parsingError('[sort] malformed, expected a field name or {field: order}');
    }
    if (order !== undefined && order !== 'asc' && order !== 'desc') throw parsingError(`[sort] unknown order [${String(order)}], expected [asc] or [desc]`);
    if (field === '_score') return { field, order: (order as 'asc' | 'desc' | undefined) ?? 'desc' };
    const def = MAPPING[field];
    if (!def || field === '_id') throw shardError(`No mapping found for [${field}] in order to sort on`);
    if (def.type === 'text') throw illegalArgument(TEXT_SORT_MESSAGE(field), 'SEARCH_SORT_TEXT');
    if (def.nested) throw illegalArgument(`sorting on nested field [${field}] is not supported by model group search`, 'SEARCH_QUERY_UNSUPPORTED');
    return { field, order: (order as 'asc' | 'desc' | undefined) ?? 'asc' };
  });
}

function parseSourceFilter(spec: unknown): SourceFilter {
  if (spec === undefined || spec === true) return { includes: [], excludes: [] };
  if (spec === false) return false;
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((s) => typeof s === 'string')) throw parsingError(`[_source] ${what} must be strings`);
    return list as string[];
  };
  if (typeof spec === 'string' || Array.isArray(spec)) return { includes: strings(spec, 'fields'), excludes: [] };
  if (isObject(spec)) return { includes: strings(spec.includes, 'includes'), excludes: strings(spec.excludes, 'excludes') };
  throw parsingError('[_source] must be a boolean, a string, an array or an object');
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Applies `_source` includes/excludes (dotted paths, `*` wildcards) to a document. */
function filterSource(doc: Record<string, unknown>, filter: { includes: string[]; excludes: string[] }): Record<string, unknown> {
  if (filter.includes.length === 0 && filter.excludes.length === 0) return doc;
  const inc = filter.includes.map(globToRegExp);
  const exc = filter.excludes.map(globToRegExp);
  const walk = (obj: Record<string, unknown>, prefix: string): Record<string, unknown> | undefined => {
    const out: Record<string, unknown> = {};
    let any = false;
    for (const [k, v] of Object.entries(obj)) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (exc.some((r) => r.test(p))) continue;
      const included = inc.length === 0 || inc.some((r) => r.test(p));
      if (included) {
        out[k] = v;
        any = true;
      } else if (isObject(v)) {
        const child = walk(v, p);
        if (child) {
          out[k] = child;
          any = true;
        }
      }
    }
    return any || prefix === '' ? out : undefined;
  };
  return walk(doc, '') ?? {};
}

// ---- executing ----------------------------------------------------------------------------------

export type SearchHit = {
  _index: string;
  _id: string;
  _version: number;
  _seq_no: number;
  _primary_term: number;
  _score: number | null;
  _source?: Record<string, unknown>;
  sort?: unknown[];
};

export type SearchResponse = {
  took: number;
  timed_out: boolean;
  _shards: { total: number; successful: number; skipped: number; failed: number };
  hits: {
    total?: { value: number; relation: 'eq' | 'gte' };
    max_score: number | null;
    hits: SearchHit[];
  };
};

/** Runs `req` with `query` (the caller's query already combined with the ACL filter) over `records`. */
export function runSearch(records: readonly GroupRecord[], req: SearchRequest, query: Record<string, unknown> | undefined, startedMs: number, nowMs: number): SearchResponse {
  const matcher = query === undefined ? () => 1 : compileQuery(query);
  const matched: { rec: GroupRecord; score: number; pos: number }[] = [];
  records.forEach((rec, pos) => {
    const score = matcher({ id: rec.id, source: rec.doc as unknown as Record<string, unknown>, scope: 'root' });
    if (score !== null) matched.push({ rec, score, pos });
  });

  const sortKeys = req.sort;
  const sortValue = (m: (typeof matched)[number], key: SortKey): unknown => {
    if (key.field === '_score') return m.score;
    const got = valuesOf(key.field, { id: m.rec.id, source: m.rec.doc as unknown as Record<string, unknown>, scope: 'root' });
    const vals = got?.values ?? [];
    if (vals.length === 0) return null;
    const def = MAPPING[key.field]!;
    const typed = def.type === 'integer' || def.type === 'date' ? vals.map(Number) : vals.map(String);
    return typed.reduce((a, b) => (key.order === 'asc' ? (b < a ? b : a) : b > a ? b : a));
  };
  const compare = (a: unknown, b: unknown, order: 'asc' | 'desc'): number => {
    if (a === b) return 0;
    if (a === null) return 1; // missing values last, either order
    if (b === null) return -1;
    const c = (a as number | string) < (b as number | string) ? -1 : 1;
    return order === 'asc' ? c : -c;
  };
  if (sortKeys) {
    matched.sort((x, y) => {
      for (const k of sortKeys) {
        const c = compare(sortValue(x, k), sortValue(y, k), k.order);
        if (c !== 0) return c;
      }
      return x.pos - y.pos;
    });
  } else {
    matched.sort((x, y) => y.score - x.score || x.pos - y.pos);
  }

  const withScores = !sortKeys || req.trackScores || sortKeys.some((k) => k.field === '_score');
  const page = matched.slice(req.from, req.from + req.size);
  const hits = page.map((m): SearchHit => {
    const hit: SearchHit = {
      _index: GROUP_INDEX,
      _id: m.rec.id,
      _version: m.rec.version,
      _seq_no: m.rec.seqNo,
      _primary_term: m.rec.primaryTerm,
      _score: withScores ? m.score : null,
    };
    if (req.source !== false) hit._source = filterSource(m.rec.doc as unknown as Record<string, unknown>, req.source);
    if (sortKeys) hit.sort = sortKeys.map((k) => sortValue(m, k));
    return hit;
  });

  // Field order as OpenSearch writes it: total, max_score, hits.
  const cap = req.trackTotalHits === true ? MAX_RESULT_WINDOW : req.trackTotalHits === false ? 0 : req.trackTotalHits;
  const total: SearchResponse['hits']['total'] =
    req.trackTotalHits === false ? undefined : matched.length > cap ? { value: cap, relation: 'gte' } : { value: matched.length, relation: 'eq' };
  return {
    took: Math.max(0, Math.round(nowMs - startedMs)),
    timed_out: false,
    _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
    hits: {
      ...(total ? { total } : {}),
      max_score: withScores && matched.length > 0 ? Math.max(...matched.map((m) => m.score)) : null,
      hits,
    },
  };
}
