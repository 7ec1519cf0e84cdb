/** Anonymous access policy, the same for every gate (config `auth.anonymous`). */
export type AnonymousPolicy = 'loopback' | 'always' | 'never';

export function anonymousAllowed(policy: AnonymousPolicy, peer: string): boolean {
  if (policy === 'always') return true;
  if (policy === 'never') return false;
  return isLoopback(peer);
}

/** A peer "host:port" on 127.0.0.0/8 or ::1 (also IPv4-mapped). */
export function isLoopback(peer: string): boolean {
  const host = peer.slice(0, peer.lastIndexOf(':'));
  return host.startsWith('127.') || host === '::1' || host.startsWith('::ffff:127.');
}
