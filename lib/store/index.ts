import { realClock, type Clock } from '../clock';
import type { QueueStore } from './queue-types';
import { SqliteQueueStore } from './sqlite-queue-store';
import { SqliteStore } from './sqlite-store';
import { StoreDatabase } from './store-database';
import type { RetainedStore, StoreConfig } from './types';

export type {
  ExpiredEntry,
  RangePage,
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
export type {
  EnqueueResult,
  NewMessage,
  QueuedMessage,
  QueueLimits,
  QueueSize,
  QueueStore,
  QueueStoreStats,
} from './queue-types';
export { SqliteQueueStore } from './sqlite-queue-store';
export { StoreDatabase, type StoreDatabaseStats } from './store-database';

/** Creates the configured store engine; call `open()` on it before use. */
export function createStore(config: StoreConfig): RetainedStore {
  switch (config.engine) {
    // one engine here today; the default is for untyped (plain JS) callers
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    case 'sqlite':
      return new SqliteStore(config);
    default:
      // invariant, not a catalogue error: unreachable for typed callers, and the schema
      // (store.engine enum) refuses any other engine in a config read from disk
      throw new Error(`unknown store engine: ${String((config as { engine?: unknown }).engine)}`);
  }
}

/**
 * Creates the retained store and the queue store on one database: one file, and one
 * transaction (one fsync) per event-loop turn for the writes of both. Open both before
 * use; the file closes when both are closed. The database itself is returned for the
 * other engines that share it (the aggregate tables).
 */
export function createStores(
  config: StoreConfig,
  clock: Clock = realClock,
): { retained: RetainedStore; queues: QueueStore; database: StoreDatabase } {
  switch (config.engine) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- as in createStore
    case 'sqlite': {
      const database = new StoreDatabase(config);
      const now = (): number => clock.now();
      return { retained: new SqliteStore(database, now), queues: new SqliteQueueStore(database, now), database };
    }
    default:
      // invariant, not a catalogue error: as in createStore
      throw new Error(`unknown store engine: ${String((config as { engine?: unknown }).engine)}`);
  }
}
