import { SqliteStore } from './sqlite-store';
import type { RetainedStore, StoreConfig } from './types';

export type {
  ExpiredEntry,
  RetainedStore,
  SqliteStoreConfig,
  StoreConfig,
  StoreEntry,
  StoreStats,
  StoreWill,
  WriteOptions,
  WriteResult,
} from './types';
export { SqliteStore } from './sqlite-store';

/** Creates the configured store engine; call `open()` on it before use. */
export function createStore(config: StoreConfig): RetainedStore {
  switch (config.engine) {
    case 'sqlite':
      return new SqliteStore(config);
    default:
      // unreachable for typed callers; a config read from disk is checked here too
      throw new Error(`unknown store engine: ${String((config as { engine?: unknown }).engine)}`);
  }
}
