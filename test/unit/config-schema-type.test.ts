/**
 * The `Config` type (lib/config.ts, generated into lib/config-types.ts from
 * schemas/config.schema.json) says what the schema says (issue 18): every property path
 * of the schema is a property of the type and vice versa, and a property the schema
 * fills in (it has a default) is not optional in the type, since resolveConfig() always
 * returns it. The type is read with the TypeScript checker, the schema as JSON, so this
 * checks the generator (scripts/gen-config-types.ts) independently of its own test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import ts from 'typescript';
import { configSchema } from '../../lib/config';

const repo = path.resolve(__dirname, '..', '..');

interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  required?: string[];
  default?: unknown;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
}

/** path -> optional? ('[]' an array element, '{}' any key of a map) */
type Paths = Map<string, boolean>;

function deref(node: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = /^#\/definitions\/(.+)$/.exec(node.$ref)?.[1];
  assert.ok(name !== undefined, `unsupported $ref ${node.$ref}`);
  const defs = (configSchema as { definitions?: Record<string, SchemaNode> }).definitions ?? {};
  const target = defs[name];
  assert.ok(target, `dangling $ref ${node.$ref}`);
  return deref(target);
}

function schemaPaths(node: SchemaNode, prefix: string, out: Paths): Paths {
  const n = deref(node);
  for (const [key, child] of Object.entries(n.properties ?? {})) {
    const p = prefix === '' ? key : `${prefix}.${key}`;
    const c = deref(child);
    out.set(p, !(n.required ?? []).includes(key) && c.default === undefined && child.default === undefined);
    schemaPaths(c, p, out);
  }
  if (n.items) schemaPaths(n.items, `${prefix}[]`, out);
  if (typeof n.additionalProperties === 'object') schemaPaths(n.additionalProperties, `${prefix}{}`, out);
  return out;
}

function typePaths(checker: ts.TypeChecker, type: ts.Type, prefix: string, out: Paths, seen: Set<ts.Type>): Paths {
  const t = checker.getNonNullableType(type);
  if (seen.has(t)) return out;
  // leaves: primitives and unions of literals
  if (t.flags & (ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike | ts.TypeFlags.Unknown)) return out;
  if (t.isUnion()) {
    for (const member of t.types) typePaths(checker, member, prefix, out, seen);
    return out;
  }
  if (checker.isArrayType(t)) {
    const [element] = checker.getTypeArguments(t as ts.TypeReference);
    if (element) typePaths(checker, element, `${prefix}[]`, out, seen);
    return out;
  }
  seen.add(t);
  const index = checker.getIndexInfoOfType(t, ts.IndexKind.String);
  if (index) typePaths(checker, index.type, `${prefix}{}`, out, seen);
  for (const prop of checker.getPropertiesOfType(t)) {
    const p = prefix === '' ? prop.name : `${prefix}.${prop.name}`;
    out.set(p, (prop.flags & ts.SymbolFlags.Optional) !== 0);
    typePaths(checker, checker.getTypeOfSymbol(prop), p, out, seen);
  }
  seen.delete(t);
  return out;
}

function configTypePaths(): Paths {
  const file = path.join(repo, 'lib', 'config.ts');
  const program = ts.createProgram({
    rootNames: [file],
    options: {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      resolveJsonModule: true,
      esModuleInterop: true,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      types: [],
    },
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol);
  const configSymbol = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === 'Config');
  assert.ok(configSymbol, 'lib/config.ts exports Config');
  return typePaths(checker, checker.getDeclaredTypeOfSymbol(configSymbol), '', new Map(), new Set());
}

const fromSchema = schemaPaths(configSchema, '', new Map());
const fromType = configTypePaths();

test('config schema and type - the same property paths', () => {
  const missingInType = [...fromSchema.keys()].filter((p) => !fromType.has(p)).sort();
  const missingInSchema = [...fromType.keys()].filter((p) => !fromSchema.has(p)).sort();
  assert.deepEqual({ missingInType, missingInSchema }, { missingInType: [], missingInSchema: [] });
  assert.ok(fromSchema.size > 100, `walked ${fromSchema.size} schema paths: the walk reaches the nested sections`);
});

test('config schema and type - what the schema fills in is not optional in the type', () => {
  const wronglyOptional = [...fromSchema].filter(([p, optional]) => !optional && fromType.get(p) === true).map(([p]) => p);
  assert.deepEqual(wronglyOptional, []);
});
