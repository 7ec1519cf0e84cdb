import type { BrokerEvent, Subscription } from '../../../lib/broker';
import { Errors, RouterError } from '../../../lib/errors';
import { settle } from '../../../lib/settle';
import type { MatchPolicy } from '../../../lib/topic';
import { arity, dict, id, Msg, str } from '../../../lib/wamp/messages';
import { addHeaderDetails } from '../../../lib/wamp/headers';
import { addPassthruDetails, pushPayload } from '../../../lib/wamp/payload';
import { SerializerError } from '../../../lib/wamp/serializers';
import type { WampSession } from '../session';
import { MSGID_OPTION } from '../../../lib/links/message-id';
import { messageIdOf } from '../../../lib/publication-taps';

/** SUBSCRIBE [32, Request|id, Options|dict, Topic|uri] */
export function handleSubscribe(s: WampSession, msg: unknown[]): void {
  arity(msg, 4, 'SUBSCRIBE');
  const request = id(msg[1], 'SUBSCRIBE.Request');
  const options = dict(msg[2], 'SUBSCRIBE.Options');
  const topic = str(msg[3], 'SUBSCRIBE.Topic');
  const { realm, core } = s.joined;
  try {
    // a link from another Gatehouse asks for each event's message id (README "Links")
    const withId = options[MSGID_OPTION] === true;
    const subscribed = realm.subscribe(
      core,
      topic,
      matchOption(options['match']),
      (event, subscription) => {
        sendEvent(s, event, subscription, withId);
      },
      {
        filter: options['filter'],
      },
    );
    // at once, or once the dynamic authorizer has answered
    settle(
      subscribed,
      (sub) => {
        if (s.state !== 'established') return;
        s.send([Msg.SUBSCRIBED, request, sub.id]);
        // fox-wamp: stored values first, then live events (same turn: no gap, no duplicate)
        // `get_retained` is the WAMP advanced profile's name (Event Retention), `retained` fox-wamp's
        if (options['retained'] === true || options['get_retained'] === true) realm.replayRetained(core, sub);
      },
      (err) => {
        if (s.state === 'established') s.sendError(Msg.SUBSCRIBE, request, err);
      },
    );
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    s.sendError(Msg.SUBSCRIBE, request, err);
  }
}

/** UNSUBSCRIBE [34, Request|id, SUBSCRIBED.Subscription|id] */
export function handleUnsubscribe(s: WampSession, msg: unknown[]): void {
  arity(msg, 3, 'UNSUBSCRIBE');
  const request = id(msg[1], 'UNSUBSCRIBE.Request');
  const subscription = id(msg[2], 'UNSUBSCRIBE.Subscription');
  const { realm, core } = s.joined;
  try {
    realm.unsubscribe(core, subscription);
    s.send([Msg.UNSUBSCRIBED, request]);
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    s.sendError(Msg.UNSUBSCRIBE, request, err);
  }
}

export function matchOption(v: unknown): MatchPolicy | undefined {
  if (v === undefined || v === 'exact' || v === 'prefix' || v === 'wildcard') return v;
  // String(), not JSON.stringify: a msgpack or CBOR client may send a bigint here
  throw new RouterError(
    Errors.invalidArgument,
    `unknown match policy: ${typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' || typeof v === 'number' ? String(v) : typeof v}`,
  );
}

/**
 * EVENT [36, Subscription|id, Publication|id, Details|dict, Arguments|list, ArgumentsKw|dict]
 * Encoded once per subscription and serializer, then written to every subscriber.
 */
function sendEvent(s: WampSession, event: BrokerEvent, sub: Subscription, withId: boolean): void {
  const serializer = s.transport.serializer;
  // an event with its message id (a link's subscription) is cached under the negative key
  const key = (withId ? -1 : 1) * (sub.id * 4 + serializer.rawSocketId);
  let cache = event.cache;
  let bytes = cache?.get(key) as Buffer | undefined;
  if (!bytes) {
    try {
      bytes = serializer.encode(eventMessage(event, sub, withId ? messageIdOf(event, s.ctx.router.node) : undefined));
    } catch (err) {
      if (!(err instanceof SerializerError)) throw err;
      // Decodable from the publisher, not encodable for this subscriber (a msgpack/CBOR
      // text starting with U+0000 has no WAMP JSON form; an integer past 64 bits from
      // another protocol has no WAMP form at all): this subscriber misses the
      // event, counted. Throwing would stop the broker's fan-out to everyone after it
      // and ABORT the publisher (DESIGN: bad input from one client never hurts another).
      s.ctx.router.metrics.drops.labels('wamp', 'unencodable').inc();
      s.ctx.log.debug({ session: s.core?.id, topic: event.topic, err: err.message }, 'event not encodable for subscriber');
      return;
    }
    if (!cache) cache = event.cache = new Map();
    cache.set(key, bytes);
  }
  s.transport.write(bytes);
}

function eventMessage(event: BrokerEvent, sub: Subscription, messageId: string | undefined): unknown[] {
  const details: Record<string, unknown> = {};
  if (messageId !== undefined) {
    details[MSGID_OPTION] = messageId;
    // the retain flag too, so a link keeps a retained publication retained
    if (event.retainFlag && !event.retained) details['x_gatehouse_retain'] = true;
  }
  if (sub.match !== 'exact' || sub.uri !== event.topic) details['topic'] = event.topic;
  // a publication from another cluster node carries its publisher's identity instead
  const pub = event.publisher ?? event.remotePublisher;
  if (event.discloseMe && pub) {
    details['publisher'] = pub.id;
    details['publisher_authid'] = pub.identity.authid;
    details['publisher_authrole'] = pub.identity.authrole;
  }
  if (event.retained) details['retained'] = true;
  if (event.revision !== undefined) details['revision'] = event.revision;
  addPassthruDetails(details, event.payload);
  addHeaderDetails(details, event.headers);
  return pushPayload([Msg.EVENT, sub.id, event.publicationId, details], event.payload);
}
