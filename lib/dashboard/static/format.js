// How values and keys are shown and compared.

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** A cell's text: numbers formatted for the reader's locale, null as an empty cell. */
export function formatValue(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? number.format(value) : String(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return JSON.stringify(value);
}

/** A row's identity: its primary-key values, in key order, as one string. */
export function keyId(primaryKey, row) {
  return JSON.stringify(primaryKey.map((field) => row[field] ?? null));
}

/** The key as a person reads it: `acme`, or `acme / INV-1` for a compound key. */
export function keyLabel(primaryKey, row) {
  return primaryKey.map((field) => formatValue(row[field])).join(' / ');
}

/** Orders rows by their primary key: numbers numerically, everything else as text. */
export function compareKeys(primaryKey, a, b) {
  for (const field of primaryKey) {
    const x = a[field];
    const y = b[field];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    const c = String(x ?? '').localeCompare(String(y ?? ''));
    if (c !== 0) return c;
  }
  return 0;
}

/** Does a JSON Schema property hold numbers? (`type: "number"`, or a type list with one) */
export function isNumericProperty(schema) {
  if (typeof schema !== 'object' || schema === null) return false;
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return types.includes('number') || types.includes('integer');
}
