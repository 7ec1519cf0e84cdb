/**
 * WAMP ID scopes (WAMP basic profile, "IDs"): global IDs (sessions, publications) are
 * drawn at random from [1, 2^53]; router-scope IDs (subscriptions, registrations) count
 * up. Both fit a JavaScript number exactly.
 */
const MAX_ID = 2 ** 53;

export function globalId(): number {
  return Math.floor(Math.random() * (MAX_ID - 1)) + 1;
}

export class IdSequence {
  private next = 0;

  take(): number {
    this.next = this.next >= MAX_ID ? 1 : this.next + 1;
    return this.next;
  }
}
