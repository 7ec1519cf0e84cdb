import { Errors, RouterError } from '../../../lib/errors';
import { publishOptionsFrom } from '../../../lib/meta-api';
import { retainOptionsFrom } from '../../../lib/retained';
import { isValidUri } from '../../../lib/topic';
import { arityRange, dict, id, Msg, payloadAt, str } from '../../../lib/wamp/messages';
import { headersFromWampOptions } from '../../../lib/wamp/headers';
import { payloadFromWamp } from '../../../lib/wamp/payload';
import type { WampSession } from '../session';
import { MSGID_OPTION, parseMessageId } from '../../../lib/links/message-id';
import type { PublishOptions } from '../../../lib/broker';

/** PUBLISH [16, Request|id, Options|dict, Topic|uri, Arguments|list, ArgumentsKw|dict] */
export function handlePublish(s: WampSession, msg: unknown[]): void {
  arityRange(msg, 4, 6, 'PUBLISH');
  const request = id(msg[1], 'PUBLISH.Request');
  const options = dict(msg[2], 'PUBLISH.Options');
  const topic = str(msg[3], 'PUBLISH.Topic');
  const { args, kwargs } = payloadAt(msg, 4);
  const acknowledge = options['acknowledge'] === true;
  const { realm, core } = s.joined;
  try {
    if (!isValidUri(topic)) throw new RouterError(Errors.invalidUri, `invalid topic URI: ${topic}`);
    const payload = payloadFromWamp(args, kwargs, options);
    const ack = realm.publish(core, topic, payload, {
      ...publishOptionsFrom(options),
      ...retainOptionsFrom(options),
      ...identityFrom(options),
      retainFlag: options['retain'] === true,
      headers: headersFromWampOptions(options),
    });
    if (!(ack instanceof Promise)) {
      if (acknowledge) s.send([Msg.PUBLISHED, request, ack.publicationId]);
      return;
    }
    // store writes: PUBLISHED only once the write is durable
    ack.then(
      (a) => {
        if (acknowledge && s.state === 'established') s.send([Msg.PUBLISHED, request, a.publicationId]);
      },
      (err: unknown) => {
        if (!(err instanceof RouterError)) err = new RouterError(Errors.internal, String(err));
        if (acknowledge && s.state === 'established') s.sendError(Msg.PUBLISH, request, err as RouterError);
      },
    );
  } catch (err) {
    if (!(err instanceof RouterError)) throw err;
    // WAMP: a publication error is only reported when the publisher asked for an ack.
    if (acknowledge) s.sendError(Msg.PUBLISH, request, err);
    else s.ctx.counters.errors(err.def.code);
  }
}

/**
 * A publication another Gatehouse forwards over a link keeps its message id
 * (`x_gatehouse_msgid`, README "Links"), so the core drops a resent or looped copy.
 */
function identityFrom(options: Record<string, unknown>): Pick<PublishOptions, 'origin' | 'publicationId' | 'via'> {
  const text = options[MSGID_OPTION];
  if (text === undefined) return {};
  const parts = parseMessageId(text);
  if (!parts) throw new RouterError(Errors.invalidArgument, `PUBLISH.Options.${MSGID_OPTION} must be "<node>:<publication id>"`);
  return { origin: parts.origin, publicationId: parts.publicationId, via: 'link' };
}
