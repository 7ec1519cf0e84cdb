/**
 * The WAMP side of a link (ws:// and wss://): another Gatehouse or any WAMP router. A
 * message goes out as PUBLISH with `acknowledge` (PUBLISHED is the peer's ack), its
 * message id as the option `x_gatehouse_msgid` (a Gatehouse peer drops a copy it has
 * seen; other routers ignore an unknown option) and `retain` when it was retained.
 * Subscriptions ask for the message id of each EVENT (the same key, `true`), so what
 * comes in keeps its identity and a message of our own that comes back is dropped.
 */
import type { Payload } from '../payload';
import { addHeaderDetails, headersFromWampOptions } from '../wamp/headers';
import { addPassthruDetails } from '../wamp/payload';
import { MSGID_OPTION } from './message-id';
import type { LinkMessage, LinkTransport, LinkTransportOptions } from './transport';
import { WampClient } from './wamp-client';
import { LinkError } from './link-error';

export class WampTransport implements LinkTransport {
  onMessage: ((message: LinkMessage) => void) | undefined;
  onClose: ((reason: string) => void) | undefined;
  private client: WampClient | undefined;
  /** pattern -> subscription id at the peer */
  private readonly subscriptions = new Map<string, number>();
  private watchdog: NodeJS.Timeout | undefined;
  /** when a PUBLISHED last came, or the first publish after a quiet spell went out */
  private lastProgress = 0;
  private sendsInFlight = 0;

  constructor(private readonly options: LinkTransportOptions) {}

  async connect(): Promise<void> {
    const o = this.options;
    const client = new WampClient({ url: o.url, realm: o.remoteRealm, auth: o.auth, tls: o.tls, timeoutMs: o.timeoutMs });
    client.onClose = (reason) => {
      this.stopWatchdog();
      this.subscriptions.clear();
      this.sendsInFlight = 0;
      this.onClose?.(reason);
    };
    await client.connect();
    this.client = client;
    // a peer that stops acknowledging is as good as gone: cut it, the link reconnects
    this.watchdog = setInterval(
      () => {
        if (this.sendsInFlight > 0 && Date.now() - this.lastProgress > o.timeoutMs)
          client.abort(`no acknowledgement within ${o.timeoutMs} ms`);
      },
      Math.max(50, Math.min(1000, o.timeoutMs / 2)),
    );
    this.watchdog.unref();
  }

  send(message: LinkMessage): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new LinkError('not connected'));
    const options: Record<string, unknown> = { [MSGID_OPTION]: message.messageId };
    if (message.retain) options['retain'] = true;
    addHeaderDetails(options, message.headers);
    addPassthruDetails(options, message.payload);
    if (this.sendsInFlight++ === 0) this.lastProgress = Date.now();
    return client.publish(message.topic, message.payload, options).then(
      () => {
        this.sendsInFlight--;
        this.lastProgress = Date.now();
      },
      (err: unknown) => {
        this.sendsInFlight = Math.max(0, this.sendsInFlight - 1);
        throw err;
      },
    );
  }

  async subscribe(pattern: string): Promise<void> {
    const client = this.client;
    if (!client) throw new LinkError('not connected');
    if (this.subscriptions.has(pattern)) return;
    const id = await client.subscribe(pattern, { [MSGID_OPTION]: true }, (details, payload) => {
      this.arrived(pattern, details, payload);
    });
    this.subscriptions.set(pattern, id);
  }

  async unsubscribe(pattern: string): Promise<void> {
    const id = this.subscriptions.get(pattern);
    if (id === undefined || !this.client) return;
    this.subscriptions.delete(pattern);
    await this.client.unsubscribe(id);
  }

  call(procedure: string, payload: Payload, timeoutMs: number): Promise<Payload> {
    const client = this.client;
    if (!client) return Promise.reject(new LinkError('not connected'));
    return client.call(procedure, payload, timeoutMs);
  }

  async close(): Promise<void> {
    this.stopWatchdog();
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.onClose = undefined;
      await client.close();
    }
  }

  private arrived(pattern: string, details: Record<string, unknown>, payload: Payload): void {
    const topic = typeof details['topic'] === 'string' ? details['topic'] : pattern;
    const id = details[MSGID_OPTION];
    const headers = headersFromWampOptions(details);
    const message: LinkMessage = {
      topic,
      payload,
      retain: details['x_gatehouse_retain'] === true,
      messageId: typeof id === 'string' ? id : '',
      ...(headers ? { headers } : {}),
    };
    this.onMessage?.(message);
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
