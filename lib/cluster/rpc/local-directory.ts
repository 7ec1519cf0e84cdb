/**
 * This node's part of the cluster-wide registration directory: every callee registered
 * here, as a record the other nodes install as a proxy callee. Changes are numbered, so
 * a node that missed one (it was syncing, a message was lost while NATS reconnected)
 * sees the gap in the next heartbeat and asks for the whole list again.
 */
import type { Realm } from '../../realm';
import type { Registration } from '../../registration';
import type { Session } from '../../session';
import { isProxy } from './proxies';
import { recordKey, type CalleeRecord, type Snapshot } from './wire';

export class LocalDirectory {
  private readonly records = new Map<string, CalleeRecord>();
  /** the number of the last change */
  seq = 0;

  constructor(
    private readonly boot: string,
    private readonly changed: (op: 'add' | 'remove', rec: CalleeRecord, seq: number) => void,
  ) {}

  registered(realm: Realm, session: Session, reg: Registration): void {
    if (isProxy(session)) return;
    const entry = reg.entryOf(session);
    if (!entry) return;
    const rec: CalleeRecord = {
      realm: realm.name,
      uri: reg.uri,
      match: reg.match,
      invoke: reg.invoke,
      session: session.id,
      authid: session.identity.authid,
      authrole: session.identity.authrole,
      concurrency: Number.isFinite(entry.concurrency) ? entry.concurrency : 0,
      discloseCaller: entry.discloseCaller,
      canCancel: entry.callee.interrupt !== undefined,
      registeredAt: entry.registeredAt,
    };
    this.records.set(recordKey(rec), rec);
    this.changed('add', rec, ++this.seq);
  }

  unregistered(realm: Realm, session: Session, reg: Registration): void {
    if (isProxy(session)) return;
    const key = `${realm.name}\u0000${reg.match}\u0000${reg.uri}\u0000${session.id}`;
    const rec = this.records.get(key);
    if (!rec) return;
    this.records.delete(key);
    this.changed('remove', rec, ++this.seq);
  }

  snapshot(): Snapshot {
    return { boot: this.boot, seq: this.seq, records: [...this.records.values()] };
  }
}
