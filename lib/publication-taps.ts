import type { BrokerEvent } from './broker';

/**
 * Publication taps: the seam through which the cluster and the router links see every
 * publication routed in a realm (docs/ARCHITECTURE.md "Message identity").
 *
 * Every publication has a message id that is unique across routers: the node that first
 * accepted it and the publication id it got there (`messageIdOf`). A publication that
 * arrives from elsewhere is published locally with PublishOptions `origin`,
 * `publicationId` and `via`, so it keeps its id, a tap can tell where it came from, and
 * nothing is sent back where it came from (no loops).
 */
export interface PublicationTap {
  /**
   * A publication was routed in `realm` (its local subscribers have it). Called in the
   * publisher's turn, in publication order. A returned promise holds the publisher's
   * acknowledgement until it settles (a link's durable queue commits the message with
   * the ack); a rejection fails the publish. Must not throw.
   */
  tapped(realm: string, event: BrokerEvent): void | Promise<void>;
}

/** The router's taps, shared by its realms. */
export class PublicationTaps {
  private list: PublicationTap[] = [];

  get size(): number {
    return this.list.length;
  }

  add(tap: PublicationTap): () => void {
    this.list = [...this.list, tap];
    return () => {
      this.list = this.list.filter((t) => t !== tap);
    };
  }

  /** Tells every tap; undefined when none holds the ack (the common, allocation-free case). */
  tell(realm: string, event: BrokerEvent): Promise<void> | undefined {
    const list = this.list;
    if (list.length === 0) return undefined;
    let held: Promise<void>[] | undefined;
    for (const tap of list) {
      const r = tap.tapped(realm, event);
      if (r !== undefined) (held ??= []).push(r);
    }
    if (held === undefined) return undefined;
    return held.length === 1 ? held[0] : Promise.all(held).then(() => undefined);
  }
}

/** The cluster-unique id of a publication: `<origin node>:<publication id>`. */
export function messageIdOf(event: BrokerEvent, localNode: string): string {
  return `${event.origin ?? localNode}:${event.publicationId}`;
}
