/**
 * What a link receives (README "Links", `in`): the patterns it subscribes at the peer
 * (configured, or with "auto" the local subscriptions as they come and go), and what
 * arrives from the peer, published here tagged with the link (`via`) and the message's
 * origin so that it never goes back out and a copy seen before is dropped.
 */
import type { PublishOptions } from '../broker';
import type { LinkConfig } from '../config';
import type { Logger } from '../log';
import type { Realm } from '../realm';
import type { RetainOptions } from '../retained';
import type { LinkConnection } from './link';
import { parseMessageId } from './message-id';
import { linkPatternOf } from './patterns';
import type { LinkMessage, LinkTransport } from './transport';

export class LinkInbound {
  /** messages published here from the peer */
  received = 0;
  /** peer subscriptions wanted: pattern -> how many local reasons want it */
  private readonly wanted = new Map<string, number>();
  private readonly name: string;

  constructor(
    config: LinkConfig,
    /** `link:<name>`: the publications' `via` */
    private readonly via: string,
    private readonly realm: Realm,
    private readonly log: Logger,
    private readonly receivedCounter: { inc(): void },
    private readonly link: LinkConnection,
  ) {
    this.name = config.name;
    if (config.in !== 'auto') for (const p of config.in) this.wanted.set(p, 1);
  }

  /** A new connection is up: every wanted pattern is subscribed at the peer. */
  subscribeAll(t: LinkTransport): void {
    for (const pattern of this.wanted.keys()) this.subscribeAtPeer(t, pattern);
  }

  arrived(m: LinkMessage): void {
    const id = m.messageId === '' ? undefined : parseMessageId(m.messageId);
    const options: PublishOptions & RetainOptions = { via: this.via };
    if (id) {
      options.origin = id.origin;
      options.publicationId = id.publicationId;
    }
    if (m.retain) {
      options.retain = true;
      options.retainFlag = true;
    }
    if (m.headers) options.headers = m.headers;
    this.received++;
    this.receivedCounter.inc();
    const failed = (err: unknown): void => {
      this.log.warn(
        { link: this.name, topic: m.topic, err: err instanceof Error ? err.message : String(err) },
        'message from the link peer not published',
      );
    };
    try {
      const r = this.realm.publish(undefined, m.topic, m.payload, options);
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /** in: "auto": the local subscriptions are mirrored to the peer as they come and go (WAVEMQ). */
  followSubscriptions(): void {
    const broker = this.realm.broker;
    const prev = broker.observer;
    broker.observer = {
      ...prev,
      onCreate: (session, sub) => {
        prev.onCreate?.(session, sub);
        const p = linkPatternOf(sub.pattern);
        if (p !== undefined) this.want(p, 1);
      },
      onDelete: (session, sub) => {
        prev.onDelete?.(session, sub);
        const p = linkPatternOf(sub.pattern);
        if (p !== undefined) this.want(p, -1);
      },
    };
  }

  private subscribeAtPeer(t: LinkTransport, pattern: string): void {
    t.subscribe(pattern).catch((err: unknown) => {
      if (t !== this.link.transport()) return;
      this.log.warn(
        { link: this.name, pattern, err: err instanceof Error ? err.message : String(err) },
        'link cannot subscribe at the peer',
      );
    });
  }

  private want(pattern: string, delta: 1 | -1): void {
    const n = (this.wanted.get(pattern) ?? 0) + delta;
    const t = this.link.transport();
    const up = this.link.state() === 'up';
    if (n <= 0) {
      this.wanted.delete(pattern);
      if (t && up) {
        t.unsubscribe(pattern).catch((err: unknown) => {
          this.log.debug({ link: this.name, pattern, err: String(err) }, 'link unsubscribe at the peer failed');
        });
      }
      return;
    }
    this.wanted.set(pattern, n);
    if (n === 1 && delta === 1 && t && up) this.subscribeAtPeer(t, pattern);
  }
}
