import type { ValidateFunction } from 'ajv';

/** The functions an aggregate table computes over each group's contributions. */
export type AggregateFn = 'sum' | 'count' | 'min' | 'max' | 'avg';

/** How a primary-key field is encoded and compared: as text, or as a number. */
export type KeyType = 'string' | 'number';

/** A row: a JSON object, as published (source tables) or computed (aggregate tables). */
export type Row = Record<string, unknown>;

/** A rule of a table feeding its rows into an aggregate table. */
export interface PropagateRule {
  /** position in the table's `propagate` list: part of a contribution's identity */
  readonly index: number;
  readonly to: string;
  /** target primary-key field -> source field */
  readonly key: Readonly<Record<string, string>>;
  /** target aggregate field -> source field */
  readonly fields: Readonly<Record<string, string>>;
  readonly filter?: unknown;
}

/** One table, loaded from its definition file and checked. */
export interface TableDef {
  readonly name: string;
  /** the definition file it came from (for error messages) */
  readonly file: string;
  readonly topic: string;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly primaryKey: readonly string[];
  readonly keyTypes: readonly KeyType[];
  readonly filter?: unknown;
  readonly propagate: readonly PropagateRule[];
  /** field -> function; undefined for a source table */
  readonly aggregate: Readonly<Record<string, AggregateFn>> | undefined;
  /** the row validator, compiled once (source tables only) */
  readonly validate: ValidateFunction | undefined;
}

export interface Definitions {
  readonly tables: ReadonlyMap<string, TableDef>;
  /** a hash of everything that decides the aggregates' contents */
  readonly fingerprint: string;
}

export type ChangeOp = 'insert' | 'update' | 'delete';

/** One row change of one table, as the change feed publishes it. */
export interface RowChange {
  readonly table: TableDef;
  readonly op: ChangeOp;
  readonly key: Row;
  readonly old: Row | null;
  readonly new: Row | null;
  readonly revision: number;
}
