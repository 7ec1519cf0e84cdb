/**
 * Durable subscriptions' bindings shared by a cluster (issue 12): the records
 * lib/durable-subscriptions.ts keeps, in a JetStream KV bucket every node watches, so a
 * client that subscribes with the same durable name on another node finds its binding
 * (and, in the shared queue, its messages: lib/work-queues/jetstream.ts).
 *
 * - The bucket is `<prefix>__durable` (no realm's bucket is named so: a realm bucket's
 *   `_` is followed by two hex digits, lib/store/jetstream/bucket-name.ts), history 1.
 *   Key: `b.<sha-256 of the record id>` (an id holds anything a realm, owner and name
 *   hold; a key is a NATS subject). Value: JSON `{id, record}`.
 * - Every node watches the whole bucket: the initial values, then every change. Reads
 *   are from that copy (synchronous, as the local store's records are); a write applies
 *   to the copy at once and reaches the others when JetStream has it. A SUBSCRIBE on
 *   another node within that moment does not see the binding yet.
 * - Changes made by other nodes (and the echo of this node's own) go to the listener,
 *   which starts, restarts (another pattern) or stops the node's feed of the binding.
 */
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SharedBindings } from '../durable-subscriptions';
import type { Logger } from '../log';
import { isPlainObject } from '../payload';

export interface JetStreamBindingsOptions {
  prefix: string;
  /** copies of each record (the bucket's replicas, when it is created) */
  replicas: number;
  /** this node's id (lib/node-id.ts) */
  node: string;
  log: Logger;
}

type Listener = (id: string, record: unknown) => void;

export class JetStreamBindings implements SharedBindings {
  readonly node: string;
  /** the bucket's records as this node last saw them, by record id */
  private readonly records = new Map<string, unknown>();
  /** KV key -> record id (a delete carries the key only) */
  private readonly ids = new Map<string, string>();
  private kv: KV | undefined;
  /** writes made before the bucket was open, in order */
  private readonly early: ((kv: KV) => Promise<unknown>)[] = [];
  private listener: Listener = () => undefined;

  constructor(private readonly options: JetStreamBindingsOptions) {
    this.node = options.node;
  }

  /** The cluster's connection is up: the bucket is opened (created by the first node) and watched. */
  async attach(nc: NatsConnection): Promise<{ stop(): void }> {
    const kv = await new Kvm(jetstream(nc)).create(`${this.options.prefix}__durable`, {
      replicas: this.options.replicas,
      history: 1,
    });
    const iter = await kv.watch();
    void (async () => {
      for await (const e of iter) this.changed(e);
    })().catch((err: unknown) => {
      this.options.log.error({ err }, 'durable subscriptions: the bindings watch ended');
    });
    this.kv = kv;
    for (const write of this.early.splice(0)) this.write(write);
    return {
      stop: () => {
        iter.stop();
      },
    };
  }

  listen(fn: Listener): void {
    this.listener = fn;
  }

  get(id: string): unknown {
    return this.records.get(id);
  }

  put(id: string, record: unknown): void {
    const key = keyOf(id);
    this.ids.set(key, id);
    this.records.set(id, record);
    const data = JSON.stringify({ id, record });
    this.write((kv) => kv.put(key, data));
  }

  delete(id: string): void {
    const key = keyOf(id);
    this.records.delete(id);
    this.write((kv) => kv.delete(key));
  }

  private write(fn: (kv: KV) => Promise<unknown>): void {
    if (!this.kv) {
      this.early.push(fn);
      return;
    }
    fn(this.kv).catch((err: unknown) => {
      // the other nodes do not see this change; this node goes on with it
      this.options.log.error({ err }, 'durable subscriptions: a binding was not written to the cluster');
    });
  }

  private changed(e: KvEntry): void {
    if (e.operation !== 'PUT') {
      const id = this.ids.get(e.key);
      if (id === undefined || !this.records.has(id)) return;
      this.records.delete(id);
      this.tell(id, undefined);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(e.string());
    } catch {
      value = undefined;
    }
    // anyone who may write the cluster's subjects can write here (SECURITY.md "Cluster")
    if (!isPlainObject(value) || typeof value['id'] !== 'string' || keyOf(value['id']) !== e.key) {
      this.options.log.warn({ key: e.key }, 'durable subscriptions: unreadable binding in the cluster ignored');
      return;
    }
    const id = value['id'];
    this.ids.set(e.key, id);
    this.records.set(id, value['record']);
    this.tell(id, value['record']);
  }

  /** never throws into the watch loop: one binding's trouble must not stop the others' */
  private tell(id: string, record: unknown): void {
    try {
      this.listener(id, record);
    } catch (err) {
      this.options.log.error({ err, id }, 'durable subscriptions: a binding from the cluster was not applied');
    }
  }
}

function keyOf(id: string): string {
  return `b.${createHash('sha256').update(id).digest('hex')}`;
}
