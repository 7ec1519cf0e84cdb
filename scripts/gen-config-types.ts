/**
 * Writes lib/config-types.ts from schemas/config.schema.json, so the schema is the one
 * source of the `Config` type (issue 18). Run it after changing the schema:
 *
 *   npm run gen:config-types
 *
 * test/unit/config-types-generated.test.ts fails when the committed file differs from
 * what this produces.
 *
 * No JSON-Schema-to-TypeScript package is installed, so this handles the subset of JSON
 * Schema (draft-07) the config schema uses, and throws on anything else rather than
 * guess:
 * - `type` (a name or a list of names: `["object", "null"]` is `X | null`), `enum`,
 *   `const`, `oneOf` and `anyOf` (a union), `items`, `properties`,
 *   `additionalProperties` (an object schema without properties is a
 *   `Record<string, T>`), `$ref` to `#/definitions/<name>`;
 * - a property is optional in the type unless it is `required` or has a `default`:
 *   resolveConfig() applies the defaults (ajv useDefaults), so it is always there;
 * - `title` names a node's type: it becomes an exported declaration, and every node
 *   with the same title must give the same type (the TLS blocks do); a title on an
 *   `["object", "null"]` names the object, the use says `Name | null`. The root is
 *   `Config` whatever its title says. Nodes without a title are written inline;
 * - `description` becomes the doc comment; validation keywords (minimum, pattern, ...)
 *   do not show in types.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';

export interface SchemaNode {
  title?: string;
  description?: string;
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  required?: string[];
  default?: unknown;
  definitions?: Record<string, SchemaNode>;
}

/** Keywords that only constrain values: no trace in a type. */
const VALIDATION_ONLY = new Set([
  '$schema',
  '$id',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'examples',
]);
const KNOWN = new Set([
  ...VALIDATION_ONLY,
  'title',
  'description',
  '$ref',
  'type',
  'enum',
  'const',
  'oneOf',
  'anyOf',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'default',
  'definitions',
]);

const HEADER = `/**
 * GENERATED from schemas/config.schema.json by scripts/gen-config-types.ts; do not edit.
 * Change the schema, then run \`npm run gen:config-types\`. lib/config.ts re-exports these.
 */
`;

class Generator {
  /** title -> [declaration, body without doc comments] */
  private readonly named = new Map<string, { declaration: string; bare: string; at: string }>();

  constructor(private readonly root: SchemaNode) {}

  private deref(node: SchemaNode, at: string): SchemaNode {
    if (node.$ref === undefined) return node;
    const name = /^#\/definitions\/([^/]+)$/.exec(node.$ref)?.[1];
    const target = name === undefined ? undefined : this.root.definitions?.[name];
    if (target === undefined) throw new Error(`${at}: unsupported or dangling $ref ${node.$ref}`);
    const siblings = Object.keys(node).filter((k) => k !== '$ref' && k !== 'description' && k !== 'default');
    if (siblings.length > 0) throw new Error(`${at}: $ref beside ${siblings.join(', ')} is not supported`);
    return this.deref(target, node.$ref);
  }

  /** The type of `node`: its title's name, or the type written out. */
  type(node: SchemaNode, at: string): string {
    const n = this.deref(node, at);
    if (n.title !== undefined) {
      const name = n.title;
      if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) throw new Error(`${at}: title "${name}" is not a type name`);
      // `["object", "null"]`: the name is the object's type, the null stays at the use
      const types = Array.isArray(n.type) ? n.type : [];
      const nullable = types.includes('null') && types.length > 1;
      const named: SchemaNode = nullable ? { ...n, type: types.filter((t) => t !== 'null') } : n;
      const bare = this.body(named, at, false);
      const seen = this.named.get(name);
      if (seen === undefined) {
        // no doc comment on the declaration: the descriptions of its uses differ (each
        // TLS block says which listener it is for); the uses carry them
        const body = this.body(named, at, true);
        const declaration = body.startsWith('{') ? `export interface ${name} ${body}\n` : `export type ${name} = ${body};\n`;
        this.named.set(name, { declaration, bare, at });
      } else if (seen.bare !== bare) {
        throw new Error(`${at}: title ${name} is also ${seen.at}, with a different type`);
      }
      return nullable ? `${name} | null` : name;
    }
    return this.body(n, at, true);
  }

  private body(n: SchemaNode, at: string, docs: boolean): string {
    const unknownKeys = Object.keys(n).filter((k) => !KNOWN.has(k));
    if (unknownKeys.length > 0) throw new Error(`${at}: unsupported keyword ${unknownKeys.join(', ')}`);
    if (n.enum !== undefined) return union(n.enum.map(literal));
    if (n.const !== undefined) return literal(n.const);
    if (n.oneOf !== undefined) return union(n.oneOf.map((o, i) => this.type(o, `${at}/oneOf/${i}`)));
    if (n.anyOf !== undefined) return union(n.anyOf.map((o, i) => this.type(o, `${at}/anyOf/${i}`)));
    const types = n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type];
    if (types.length === 0) throw new Error(`${at}: no type`);
    return union(types.map((t) => this.simple(t, n, at, docs)));
  }

  private simple(t: string, n: SchemaNode, at: string, docs: boolean): string {
    switch (t) {
      case 'string':
      case 'boolean':
      case 'null':
        return t;
      case 'integer':
      case 'number':
        return 'number';
      case 'array': {
        if (n.items === undefined) return 'unknown[]';
        const element = this.type(n.items, `${at}/items`);
        return /[|&]/.test(element) && !element.startsWith('{') ? `(${element})[]` : `${element}[]`;
      }
      case 'object':
        return this.object(n, at, docs);
      default:
        throw new Error(`${at}: unsupported type ${t}`);
    }
  }

  private object(n: SchemaNode, at: string, docs: boolean): string {
    const extra = n.additionalProperties;
    if (n.properties === undefined) {
      return typeof extra === 'object'
        ? `Record<string, ${this.type(extra, `${at}/additionalProperties`)}>`
        : 'Record<string, unknown>';
    }
    if (extra !== false) throw new Error(`${at}: properties with additionalProperties other than false are not supported`);
    const required = new Set(n.required ?? []);
    const lines = Object.entries(n.properties).map(([key, child]) => {
      const childAt = `${at}/properties/${key}`;
      const optional = !required.has(key) && child.default === undefined && this.deref(child, childAt).default === undefined;
      const doc = docs ? docComment(child.description ?? this.deref(child, childAt).description, '  ') : '';
      const name = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key);
      return `${doc}  ${name}${optional ? '?' : ''}: ${indent(this.type(child, childAt))};\n`;
    });
    return `{\n${lines.join('')}}`;
  }

  source(): string {
    const config = this.type({ ...this.root, title: undefined, definitions: undefined }, '#');
    const declarations = [...this.named.values()].map((d) => d.declaration);
    return `${HEADER}\n${docComment(this.root.description, '')}export interface Config ${config}\n\n${declarations.join('\n')}`;
  }
}

function literal(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null)
    return JSON.stringify(value);
  throw new Error(`unsupported literal ${JSON.stringify(value)}`);
}

function union(parts: string[]): string {
  return [...new Set(parts)].join(' | ');
}

function indent(text: string): string {
  return text.replace(/\n/g, '\n  ');
}

function docComment(text: string | undefined, pad: string): string {
  if (text === undefined || text === '') return '';
  // a description may say "*/", which would end the comment early
  return `${pad}/** ${text.replace(/\*\//g, '*\\/')} */\n`;
}

/** lib/config-types.ts as it should be for `schema`, formatted with the repository's prettier settings. */
export async function generateConfigTypes(schema: SchemaNode, repo: string): Promise<string> {
  const source = new Generator(schema).source();
  const options = (await prettier.resolveConfig(path.join(repo, 'lib', 'config-types.ts'))) ?? {};
  return prettier.format(source, { ...options, parser: 'typescript' });
}

export const REPO = path.resolve(__dirname, '..');
export const SCHEMA_FILE = path.join(REPO, 'schemas', 'config.schema.json');
export const TYPES_FILE = path.join(REPO, 'lib', 'config-types.ts');

if (require.main === module) {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as SchemaNode;
  generateConfigTypes(schema, REPO).then(
    (text) => {
      writeFileSync(TYPES_FILE, text);
      console.log(`wrote ${path.relative(process.cwd(), TYPES_FILE)}`);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
