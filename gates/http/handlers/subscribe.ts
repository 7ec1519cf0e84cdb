/**
 * GET /subscribe?topic=&match= -> text/event-stream (WHATWG HTML §9.2 Server-sent
 * events): one event per publication, `id:` its publication id and `data:` the JSON
 * payload as a WAMP subscriber gets it ({args, kwargs}); a comment line every
 * http.api.keepAliveMs. Bounded like every outbound path (lib/outbox.ts): a reader
 * that falls behind is throttled, then disconnected and counted.
 */
import type express from 'express';
import type { BrokerEvent, Subscription } from '../../../lib/broker';
import { Errors, RouterError } from '../../../lib/errors';
import { stringifyExact } from '../../../lib/json-exact';
import { Outbox } from '../../../lib/outbox';
import type { MatchPolicy } from '../../../lib/topic';
import type { HttpGateContext } from '../context';
import type { RequestScope } from '../request-session';

const MATCHES: readonly string[] = ['exact', 'prefix', 'wildcard'];

/**
 * The SSE `data:` of an event: Arguments / ArgumentsKw as a WAMP subscriber receives
 * them, and, for a pattern subscription, the event's topic in `details` (WAMP advanced:
 * pattern-based subscriptions, EVENT.Details.topic).
 */
export function eventData(event: BrokerEvent, pattern: boolean): string {
  const p = event.payload;
  const body: Record<string, unknown> = { args: p.args ?? (p.bytes ? [p.bytes] : []), kwargs: p.kwargs ?? {} };
  if (pattern) body['details'] = { topic: event.topic };
  // JSON text has no raw line breaks outside strings, where they are escaped: one data: line
  return stringifyExact(body) ?? '{}';
}

export async function subscribe(
  ctx: HttpGateContext,
  scope: RequestScope,
  req: express.Request,
  res: express.Response,
): Promise<void> {
  const topic = typeof req.query['topic'] === 'string' ? req.query['topic'] : '';
  const match = typeof req.query['match'] === 'string' ? req.query['match'] : 'exact';
  if (topic === '') throw new RouterError(Errors.invalidUri, 'topic is required');
  if (!MATCHES.includes(match))
    throw new RouterError(Errors.invalidArgument, `match must be exact, prefix or wildcard, not ${match}`);
  const { realm, session } = scope;
  const socket = res.socket;
  if (!socket) return;

  let closed = false;
  const outbox = new Outbox(
    ctx.outboxLimits,
    {
      queuedBytes: () => res.writableLength + socket.writableLength,
      // an event stream has no input to pause
      pauseInput: () => undefined,
      resumeInput: () => undefined,
      kill: () => {
        ctx.limitHit('slow_consumer', { peer: session.transport.peer, gate: 'http' });
        res.destroy();
      },
    },
    ctx.slowConsumers,
  );
  const write = (text: string): void => {
    if (closed) return;
    outbox.coalesce();
    res.write(text);
    ctx.counters.out(text.length);
    outbox.wrote();
  };
  const sink = (event: BrokerEvent, _sub: Subscription): void => {
    write(`id: ${event.publicationId}\nevent: publication\ndata: ${eventData(event, match !== 'exact')}\n\n`);
  };

  // subscribing may be refused (not authorized, limits): answered as JSON before any event
  const sub = await realm.subscribe(session, topic, match as MatchPolicy, sink);
  res
    .status(200)
    .set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  socket.setNoDelay(true);
  res.write(`: subscribed ${sub.id}\n\n`);

  const keepAlive = setInterval(() => {
    write(': keep-alive\n\n');
  }, ctx.config.http.api.keepAliveMs);
  keepAlive.unref();
  const stream = { close: () => res.end() };
  ctx.streams.add(stream);
  await new Promise<void>((resolve) => {
    res.on('close', () => {
      closed = true;
      clearInterval(keepAlive);
      outbox.dispose();
      ctx.streams.delete(stream);
      session.closed = true;
      // the request's identity goes with its stream (broker.removeSession: no unsubscribe permission needed)
      realm.broker.removeSession(session);
      resolve();
    });
  });
}
