import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * A router's node id: names it in message ids (lib/publication-taps.ts), store leases
 * and the cluster. Only [A-Za-z0-9_-] (it is used in NATS subjects and store keys, where
 * '.' separates tokens). Without one configured, the host name plus a boot suffix: a
 * restarted router is a new node, so its predecessor's lease lapses and its wills fire.
 */
export function defaultNodeId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 40) || 'node';
  return `${host}-${randomBytes(3).toString('hex')}`;
}

/** Whether a configured node id is usable as is. */
export function isValidNodeId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(id);
}

/**
 * This boot of a node (its node id, pid and a random suffix): the owner of its store
 * wills' lease (lib/store/leases.ts), new at every start.
 */
export function newNodeId(base = hostname()): string {
  const host = base.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `${host}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
