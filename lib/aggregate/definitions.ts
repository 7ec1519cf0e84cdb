/**
 * Aggregate table definitions: one JSON file per table in a directory. Each file is
 * validated against schemas/aggregate-definition.schema.json, then the rules the
 * meta-schema cannot say are checked across files (targets exist, keys map the
 * target's primary key, fields exist, no cycles). Any problem stops start-up with a
 * DefinitionError naming the file and the field's JSON path. Row validators are
 * compiled here, once.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import metaSchema from '../../schemas/aggregate-definition.schema.json';
import { isPlainObject } from '../payload';
import { isValidUri } from '../topic';
import type { AggregateFn, Definitions, KeyType, PropagateRule, TableDef } from './types';

/** A definition that cannot be used: `file` and the JSON `path` of the bad field. */
export class DefinitionError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    text: string,
  ) {
    super(`aggregate definition ${file}: ${path === '' ? '/' : path} ${text}`);
    this.name = 'DefinitionError';
  }
}

/** What a definition file holds once the meta-schema accepted it. */
interface RawDefinition {
  name: string;
  topic?: string;
  properties: Record<string, unknown>;
  required?: string[];
  additionalProperties?: boolean;
  primary_key: string | string[];
  filter?: Record<string, unknown>;
  propagate?: { to: string; key: Record<string, string>; fields: Record<string, string>; filter?: Record<string, unknown> }[];
  aggregate?: Record<string, AggregateFn>;
}

const metaAjv = new Ajv({ allErrors: false, useDefaults: true, allowUnionTypes: true });
const checkMeta = metaAjv.compile<RawDefinition>(metaSchema);

/** Loads and checks every `*.json` file of `dir`. */
export function loadDefinitions(dir: string): Definitions {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (err) {
    throw new DefinitionError(dir, '', `cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const raws = names.map((f) => readDefinition(path.join(dir, f)));
  return checkDefinitions(raws);
}

/** Definitions given as objects (embedding, tests); `file` names each in errors. */
export function definitionsFrom(entries: readonly { file: string; definition: unknown }[]): Definitions {
  return checkDefinitions(entries.map((e) => ({ file: e.file, raw: meta(e.file, structuredClone(e.definition)) })));
}

function readDefinition(file: string): { file: string; raw: RawDefinition } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DefinitionError(file, '', `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { file, raw: meta(file, parsed) };
}

function meta(file: string, data: unknown): RawDefinition {
  if (checkMeta(data)) return data;
  const e = checkMeta.errors?.[0];
  throw new DefinitionError(file, e ? errorPath(e) : '', e ? (e.message ?? e.keyword) : 'is invalid');
}

/** The path of the field an ajv error is about (a missing or unknown field is named). */
function errorPath(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required') return `${e.instancePath}/${String(p['missingProperty'])}`;
  if (e.keyword === 'additionalProperties') return `${e.instancePath}/${String(p['additionalProperty'])}`;
  return e.instancePath;
}

/** Row validators: user schemas may use keywords and formats ajv does not check. */
const rowAjv = new Ajv({ allErrors: false, strict: false, validateFormats: false, logger: false });

function checkDefinitions(raws: readonly { file: string; raw: RawDefinition }[]): Definitions {
  const tables = new Map<string, TableDef>();
  const topics = new Map<string, string>();
  for (const { file, raw } of raws) {
    const fail = (p: string, text: string): never => {
      throw new DefinitionError(file, p, text);
    };
    const prior = tables.get(raw.name);
    if (prior) fail('/name', `duplicates table "${raw.name}" (${prior.file})`);
    const topic = raw.topic ?? `table.${raw.name}`;
    if (!isValidUri(topic)) fail('/topic', `is not a valid topic URI: ${topic}`);
    for (const t of [topic, `${topic}.delete`, `${topic}.changes`]) {
      const other = topics.get(t);
      if (other !== undefined)
        fail(raw.topic === undefined ? '/name' : '/topic', `topic ${t} is already used by table "${other}"`);
      topics.set(t, raw.name);
    }
    const primaryKey = typeof raw.primary_key === 'string' ? [raw.primary_key] : raw.primary_key;
    const keyTypes = primaryKey.map((f, i) =>
      keyTypeOf(raw.properties[f], `/primary_key${typeof raw.primary_key === 'string' ? '' : `/${i}`}`, f, fail),
    );
    const aggregate = raw.aggregate;
    if (aggregate !== undefined) {
      if (raw.filter !== undefined) fail('/filter', 'is for source tables; an aggregate table holds what its sources propagate');
      for (const field of Object.keys(aggregate)) {
        if (!(field in raw.properties)) fail(`/aggregate/${field}`, 'is not a property of the table');
        if (primaryKey.includes(field))
          fail(`/aggregate/${field}`, 'is a primary key field: groups are keyed by it, it cannot be aggregated');
      }
    }
    for (const field of raw.required ?? [])
      if (!(field in raw.properties)) fail('/required', `names "${field}", which is not a property`);
    let validate;
    if (aggregate === undefined) {
      try {
        validate = rowAjv.compile({
          type: 'object',
          properties: raw.properties,
          required: [...new Set([...primaryKey, ...(raw.required ?? [])])],
          additionalProperties: raw.additionalProperties ?? true,
        });
      } catch (err) {
        fail('/properties', `is not a usable JSON Schema: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const propagate: PropagateRule[] = (raw.propagate ?? []).map((r, index) => ({
      index,
      to: r.to,
      key: r.key,
      fields: r.fields,
      ...(r.filter === undefined ? {} : { filter: r.filter }),
    }));
    tables.set(raw.name, {
      name: raw.name,
      file,
      topic,
      properties: raw.properties,
      primaryKey,
      keyTypes,
      ...(raw.filter === undefined ? {} : { filter: raw.filter }),
      propagate,
      aggregate,
      validate,
    });
  }
  for (const table of tables.values()) checkRules(table, tables);
  checkAcyclic(tables);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([...tables.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(contentOf)))
    .digest('hex');
  return { tables, fingerprint };
}

/** What decides a table's contents (not its file, description or validator). */
function contentOf(t: TableDef): unknown {
  return [t.name, t.primaryKey, t.keyTypes, t.filter ?? null, t.propagate, t.aggregate ?? null];
}

function typesOf(schema: unknown): string[] {
  if (!isPlainObject(schema)) return [];
  const t = schema['type'];
  if (typeof t === 'string') return [t];
  return Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
}

function keyTypeOf(schema: unknown, at: string, field: string, fail: (p: string, text: string) => never): KeyType {
  if (schema === undefined) fail(at, `names "${field}", which is not a property`);
  const types = typesOf(schema);
  if (types.length === 1 && types[0] === 'string') return 'string';
  if (types.length === 1 && (types[0] === 'integer' || types[0] === 'number')) return 'number';
  return fail(at, `primary key field "${field}" must have one type: string, integer or number`);
}

function checkRules(table: TableDef, tables: ReadonlyMap<string, TableDef>): void {
  const fail = (p: string, text: string): never => {
    throw new DefinitionError(table.file, p, text);
  };
  for (const rule of table.propagate) {
    const at = `/propagate/${rule.index}`;
    const target = tables.get(rule.to);
    if (!target) return fail(`${at}/to`, `names no table: "${rule.to}"`);
    const fns = target.aggregate;
    if (!fns) return fail(`${at}/to`, `"${rule.to}" is a source table; rows propagate into aggregate tables only`);
    for (const [i, field] of target.primaryKey.entries()) {
      const source = rule.key[field];
      if (source === undefined) fail(`${at}/key`, `must map "${field}", primary key field of "${rule.to}"`);
      else
        checkSource(
          table,
          source,
          `${at}/key/${field}`,
          fail,
          target.keyTypes[i] === 'number' ? ['number', 'integer'] : ['string'],
        );
    }
    for (const field of Object.keys(rule.key)) {
      if (!target.primaryKey.includes(field)) fail(`${at}/key/${field}`, `is not a primary key field of "${rule.to}"`);
    }
    for (const [field, source] of Object.entries(rule.fields)) {
      const fn = fns[field];
      if (fn === undefined) return fail(`${at}/fields/${field}`, `is not an aggregate field of "${rule.to}"`);
      checkSource(table, source, `${at}/fields/${field}`, fail, fn === 'sum' || fn === 'avg' ? ['number', 'integer'] : undefined);
    }
  }
}

/** A rule's source field must be a property; typed as the target needs when declared. */
function checkSource(
  table: TableDef,
  field: string,
  at: string,
  fail: (p: string, text: string) => never,
  wanted: string[] | undefined,
): void {
  const schema = table.properties[field];
  if (schema === undefined) fail(at, `source field "${field}" is not a property of "${table.name}"`);
  if (wanted === undefined) return;
  const types = typesOf(schema);
  if (types.length > 0 && !types.some((t) => wanted.includes(t))) {
    fail(at, `source field "${field}" has type ${types.join('|')}; ${wanted.join(' or ')} is needed here`);
  }
}

/** Propagation must end: a cycle would feed a table its own changes forever. */
function checkAcyclic(tables: ReadonlyMap<string, TableDef>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: TableDef): void => {
    state.set(t.name, 'visiting');
    for (const rule of t.propagate) {
      const s = state.get(rule.to);
      if (s === 'visiting')
        throw new DefinitionError(t.file, `/propagate/${rule.index}/to`, `"${rule.to}" closes a propagation cycle`);
      const next = tables.get(rule.to);
      if (s === undefined && next) visit(next);
    }
    state.set(t.name, 'done');
  };
  for (const t of tables.values()) if (!state.has(t.name)) visit(t);
}
