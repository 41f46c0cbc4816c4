/** The query DSL evaluator over group documents (model-groups.md §7). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenSearchError } from '../../../src/groups/errors.js';
import { analyze, parseSearchBody, runSearch } from '../../../src/groups/search.js';
import type { GroupDoc, GroupRecord } from '../../../src/store/store.js';

const owner = (name: string) => ({ name, backend_roles: ['analyst'], roles: [], custom_attribute_names: [], user_requested_tenant: null });
let seq = 0;
const rec = (id: string, doc: Partial<GroupDoc>): GroupRecord => ({
  id,
  version: 1,
  seqNo: seq++,
  primaryTerm: 1,
  doc: { name: id, latest_version: 0, access: 'public', created_time: 0, last_updated_time: 0, ...doc } as GroupDoc,
});

const DOCS: GroupRecord[] = [
  rec('a', { name: 'Fraud Detection', description: 'Credit card fraud model', access: 'private', owner: owner('alice'), latest_version: 3, created_time: 300 }),
  rec('b', { name: 'fraud-v2', access: 'restricted', backend_roles: ['analyst', 'IT'], owner: owner('alice'), latest_version: 1, created_time: 100 }),
  rec('c', { name: 'HR attrition', access: 'public', owner: owner('bob'), latest_version: 7, created_time: 200 }),
  rec('d', { name: 'legacy', access: 'public', created_time: 50 }),
];

function search(body: Record<string, unknown>, docs = DOCS) {
  const req = parseSearchBody(body);
  return runSearch(docs, req, req.query, 0, 0);
}
const ids = (body: Record<string, unknown>): string[] => search(body).hits.hits.map((h) => h._id);

function rejects400(body: Record<string, unknown>, type: string, reason: RegExp): void {
  assert.throws(
    () => search(body),
    (e: unknown) => e instanceof OpenSearchError && e.status === 400 && e.type === type && reason.test(e.message),
    JSON.stringify(body),
  );
}

test('analyzer approximates the standard analyzer', () => {
  assert.deepEqual(analyze("Fraud-Detection v1.2 it's ÜBER_cool"), ['fraud', 'detection', 'v1.2', "it's", 'über_cool']);
});

test('match_all, match_none, ids and empty bodies', () => {
  assert.deepEqual(ids({}), ['a', 'b', 'c', 'd']);
  assert.deepEqual(ids({ query: { match_all: {} } }), ['a', 'b', 'c', 'd']);
  assert.deepEqual(ids({ query: { match_none: {} } }), []);
  assert.deepEqual(ids({ query: { ids: { values: ['c', 'a', 'zz'] } } }), ['a', 'c']);
});

test('term: keyword exact, text by token, numbers, unmapped fields, case_insensitive', () => {
  assert.deepEqual(ids({ query: { term: { 'name.keyword': 'fraud-v2' } } }), ['b']);
  assert.deepEqual(ids({ query: { term: { 'name.keyword': 'Fraud-v2' } } }), []);
  assert.deepEqual(ids({ query: { term: { 'name.keyword': { value: 'FRAUD-V2', case_insensitive: true } } } }), ['b']);
  assert.deepEqual(ids({ query: { term: { name: 'fraud' } } }), ['a', 'b'], 'text: any token');
  assert.deepEqual(ids({ query: { term: { name: 'Fraud' } } }), [], 'term values are not analysed');
  assert.deepEqual(ids({ query: { term: { access: 'public' } } }), ['c', 'd']);
  assert.deepEqual(ids({ query: { term: { latest_version: '7' } } }), ['c']);
  assert.deepEqual(ids({ query: { term: { _id: 'b' } } }), ['b']);
  assert.deepEqual(ids({ query: { term: { nonexistent: 'x' } } }), [], 'unmapped field matches nothing');
  assert.deepEqual(ids({ query: { term: { 'owner.name.keyword': 'alice' } } }), [], 'nested fields need a nested query');
  rejects400({ query: { term: { latest_version: 'abc' } } }, 'query_shard_exception', /For input string/);
  rejects400({ query: { term: { a: 1, b: 2 } } }, 'parsing_exception', /doesn't support multiple fields/);
});

test('terms on keywords, text and _id', () => {
  assert.deepEqual(ids({ query: { terms: { _id: ['d', 'b'] } } }), ['b', 'd']);
  assert.deepEqual(ids({ query: { terms: { 'backend_roles.keyword': ['IT', 'x'] } } }), ['b']);
  assert.deepEqual(ids({ query: { terms: { backend_roles: ['it'] } } }), ['b'], 'text sub-field is lower-cased');
  assert.deepEqual(ids({ query: { terms: { 'backend_roles.keyword': [] } } }), []);
  rejects400({ query: { terms: { _id: 'a' } } }, 'parsing_exception', /array/);
  rejects400({ query: { terms: { _id: { index: 'x', id: 'y', path: 'z' } } } }, 'illegal_argument_exception', /terms lookup/);
});

test('match: analysed, or / and operators, minimum_should_match', () => {
  assert.deepEqual(ids({ query: { match: { name: 'FRAUD model' } } }), ['a', 'b']);
  assert.deepEqual(ids({ query: { match: { description: { query: 'fraud card', operator: 'and' } } } }), ['a']);
  assert.deepEqual(ids({ query: { match: { description: { query: 'fraud bogus', operator: 'and' } } } }), []);
  assert.deepEqual(ids({ query: { match: { name: { query: 'fraud detection hr', minimum_should_match: 2 } } } }), ['a']);
  assert.deepEqual(ids({ query: { match: { 'name.keyword': 'legacy' } } }), ['d'], 'keyword: whole value');
  assert.deepEqual(ids({ query: { match: { access: 'private' } } }), ['a']);
});

test('bool: must / filter / should / must_not and minimum_should_match defaults', () => {
  assert.deepEqual(ids({ query: { bool: { must: [{ term: { name: 'fraud' } }], must_not: { term: { access: 'private' } } } } }), ['b']);
  assert.deepEqual(ids({ query: { bool: { filter: { term: { access: 'public' } } } } }), ['c', 'd']);
  assert.deepEqual(ids({ query: { bool: { should: [{ term: { access: 'private' } }, { term: { 'name.keyword': 'legacy' } }] } } }), ['a', 'd'], 'only should: one required');
  assert.deepEqual(
    ids({ query: { bool: { filter: { term: { access: 'public' } }, should: [{ term: { 'name.keyword': 'legacy' } }] } } }).sort(),
    ['c', 'd'],
    'with a filter, should is optional',
  );
  assert.deepEqual(
    ids({ query: { bool: { should: [{ term: { name: 'fraud' } }, { term: { access: 'private' } }, { term: { latest_version: 3 } }], minimum_should_match: '67%' } } }),
    ['a'],
    '67% of 3 rounds down to 2',
  );
  assert.deepEqual(ids({ query: { bool: { must_not: [{ term: { access: 'public' } }] } } }), ['a', 'b']);
  const scored = search({ query: { bool: { should: [{ term: { name: 'fraud' } }, { term: { access: 'private' } }] } } });
  assert.deepEqual(scored.hits.hits.map((h) => [h._id, h._score]), [['a', 2], ['b', 1]], 'more matching clauses score higher');
  assert.equal(scored.hits.max_score, 2);
  rejects400({ query: { bool: { shoud: [] } } }, 'parsing_exception', /\[shoud\]/);
});

test('nested (path owner), exists, range, prefix, constant_score', () => {
  const nested = (q: Record<string, unknown>) => ({ query: { nested: { path: 'owner', query: q } } });
  assert.deepEqual(ids(nested({ term: { 'owner.name.keyword': 'alice' } })), ['a', 'b']);
  assert.deepEqual(ids(nested({ match: { 'owner.name': 'BOB' } })), ['c']);
  assert.deepEqual(ids(nested({ term: { access: 'public' } })), [], 'parent fields are not visible inside nested');
  assert.deepEqual(ids(nested({ match_all: {} })), ['a', 'b', 'c'], 'documents without an owner never match');
  rejects400({ query: { nested: { path: 'users', query: { match_all: {} } } } }, 'query_shard_exception', /failed to find nested object under path \[users\]/);
  assert.deepEqual(ids({ query: { exists: { field: 'backend_roles' } } }), ['b']);
  assert.deepEqual(ids({ query: { exists: { field: 'description' } } }), ['a']);
  assert.deepEqual(ids({ query: { range: { latest_version: { gte: 1, lt: 7 } } } }), ['a', 'b']);
  assert.deepEqual(ids({ query: { range: { created_time: { gt: '1970-01-01T00:00:00.150Z' } } } }), ['a', 'c']);
  assert.deepEqual(ids({ query: { prefix: { 'name.keyword': 'fraud' } } }), ['b']);
  assert.deepEqual(ids({ query: { prefix: { name: 'attr' } } }), ['c']);
  const cs = search({ query: { constant_score: { filter: { term: { access: 'public' } }, boost: 3 } } });
  assert.deepEqual(cs.hits.hits.map((h) => h._score), [3, 3]);
});

test('unsupported and unknown clauses answer 400 naming the clause', () => {
  rejects400({ query: { wildcard: { name: 'f*' } } }, 'illegal_argument_exception', /query \[wildcard\] is not supported/);
  rejects400({ query: { query_string: { query: 'x' } } }, 'illegal_argument_exception', /\[query_string\]/);
  rejects400({ query: { bogus: {} } }, 'parsing_exception', /^unknown query \[bogus\]$/);
  rejects400({ query: { bool: { must: { regexp: { name: '.*' } } } } }, 'illegal_argument_exception', /\[regexp\]/);
  rejects400({ query: { term: { a: 1 }, match: { b: 2 } } }, 'parsing_exception', /malformed query/);
  rejects400({ aggs: { x: {} } }, 'illegal_argument_exception', /\[aggs\] is not supported/);
  rejects400({ foo: 1 }, 'parsing_exception', /Unknown key .*\[foo\]/);
});

test('size, from, sort, _source and track_total_hits', () => {
  const page = search({ size: 2, from: 1 });
  assert.deepEqual(page.hits.hits.map((h) => h._id), ['b', 'c']);
  assert.deepEqual(page.hits.total, { value: 4, relation: 'eq' });
  const many = Array.from({ length: 15 }, (_, i) => rec(`m${i}`, {}));
  assert.equal(search({}, many).hits.hits.length, 10, 'default size 10');
  assert.equal(search({}, many).hits.total!.value, 15);

  const sorted = search({ sort: [{ created_time: { order: 'desc' } }] });
  assert.deepEqual(sorted.hits.hits.map((h) => h._id), ['a', 'c', 'b', 'd']);
  assert.deepEqual(sorted.hits.hits[0]!.sort, [300]);
  assert.equal(sorted.hits.hits[0]!._score, null);
  assert.equal(sorted.hits.max_score, null);
  assert.deepEqual(search({ sort: 'name.keyword' }).hits.hits.map((h) => h._id), ['a', 'c', 'b', 'd'], 'code-point order');
  assert.deepEqual(search({ sort: [{ last_updated_time: 'asc' }, { latest_version: 'desc' }] }).hits.hits.map((h) => h._id), ['c', 'a', 'b', 'd']);
  rejects400({ sort: 'name' }, 'illegal_argument_exception', /Text fields are not optimised/);
  rejects400({ sort: 'nope' }, 'query_shard_exception', /No mapping found for \[nope\]/);

  const src = search({ query: { ids: { values: ['a'] } }, _source: ['name', 'owner.name'] });
  assert.deepEqual(src.hits.hits[0]!._source, { name: 'Fraud Detection', owner: { name: 'alice' } });
  assert.equal(search({ _source: false }).hits.hits[0]!._source, undefined);
  assert.deepEqual(
    Object.keys(search({ query: { ids: { values: ['a'] } }, _source: { excludes: ['owner', '*_time'] } }).hits.hits[0]!._source!),
    ['name', 'latest_version', 'access', 'description'],
  );
  assert.equal(search({ track_total_hits: false }).hits.total, undefined);
  assert.deepEqual(search({ track_total_hits: 2 }).hits.total, { value: 2, relation: 'gte' });

  rejects400({ size: -1 }, 'illegal_argument_exception', /cannot be negative/);
  rejects400({ from: 9995, size: 10 }, 'illegal_argument_exception', /Result window is too large/);
  rejects400({ size: 'ten' }, 'parsing_exception', /\[size\]/);
  assert.deepEqual(search({ size: 0 }).hits.hits, []);
});
