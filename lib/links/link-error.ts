/**
 * Why a link's connection failed or a send to its peer did not go through. It is logged
 * and shown as the link's lastError (gatehouse.link.list), never sent to a client, so
 * it is not a catalogue error (lib/errors.ts): a client whose call is forwarded over a
 * link gets gatehouse.error.unavailable or the peer's own error instead.
 */
export class LinkError extends Error {
  override readonly name = 'LinkError';
}
