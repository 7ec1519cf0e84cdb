/**
 * Stand-ins for sessions on other nodes. The dealer routes by Session objects: a remote
 * callee is a proxy session holding its real id and identity (so caller
 * identification, meta and policies see the real one), and so is a remote caller on
 * the callee's node. Proxies never join a realm: they are not listed, counted or killed
 * here; their own node does that.
 */
import { Session } from '../../session';

const proxies = new WeakSet<Session>();
/** what a proxy's control does: nothing to close here, its own node closes it */
const NO_CONTROL = { close: (): void => undefined };

export function proxySession(node: string, realm: string, id: number, authid: string, authrole: string): Session {
  const s = new Session(
    { gate: 'cluster', type: 'nats', peer: node },
    { authid, authrole, authmethod: 'cluster', authprovider: 'cluster' },
    NO_CONTROL,
    id,
  );
  s.realmName = realm;
  proxies.add(s);
  return s;
}

export function isProxy(s: Session): boolean {
  return proxies.has(s);
}

/** The node a proxy stands for (its transport's peer). */
export function nodeOf(s: Session): string {
  return s.transport.peer;
}
