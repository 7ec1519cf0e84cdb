/**
 * Duplicate drop for publications that come from another router (a link or the cluster):
 * a link resends what its peer had not acknowledged when the connection broke, and in a
 * triangle of links a message can come back by another way. The core drops a publication
 * whose message id (`<origin node>:<publication id>`, lib/publication-taps.ts) it has
 * seen recently, and one that originated here, so subscribers see each message once.
 *
 * Publication ids are random (WAMP global scope, lib/ids.ts), so there is no watermark
 * to keep: each origin has a bounded window of its most recent ids (a set plus a ring
 * that evicts the oldest). The window only has to outlast a link's resend window and a
 * reconnect, not the whole history.
 */
export class SeenMessages {
  private readonly origins = new Map<string, OriginWindow>();

  constructor(
    /** this router's node id: a message that started here and came back is a loop */
    private readonly localNode: string,
    private readonly perOrigin = 16_384,
    /** origins remembered at most (the least recently new one is forgotten first) */
    private readonly maxOrigins = 1024,
  ) {}

  /** True the first time an id is seen; false for a duplicate or a message of our own. */
  firstTime(origin: string, publicationId: number): boolean {
    if (origin === this.localNode) return false;
    let w = this.origins.get(origin);
    if (w === undefined) {
      if (this.origins.size >= this.maxOrigins) {
        const oldest = this.origins.keys().next().value;
        if (oldest !== undefined) this.origins.delete(oldest);
      }
      w = new OriginWindow(this.perOrigin);
      this.origins.set(origin, w);
    }
    return w.add(publicationId);
  }
}

class OriginWindow {
  private readonly ids = new Set<number>();
  private readonly ring: Float64Array;
  private next = 0;

  constructor(size: number) {
    this.ring = new Float64Array(size);
  }

  add(id: number): boolean {
    if (this.ids.has(id)) return false;
    if (this.ids.size >= this.ring.length) this.ids.delete(this.ring[this.next] ?? 0);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.ring.length;
    this.ids.add(id);
    return true;
  }
}
