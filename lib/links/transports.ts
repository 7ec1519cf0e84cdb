/**
 * Which transport speaks to a link's peer, by the scheme of its url (README "Links").
 * The one place that knows the transports: each protocol adds its schemes here.
 */
import { MqttLinkTransport } from './mqtt-transport';
import { StompLinkTransport } from './stomp-transport';
import type { LinkTransport, LinkTransportOptions } from './transport';
import { WampTransport } from './wamp-transport';

export type TransportFactory = (options: LinkTransportOptions) => LinkTransport;

const wamp: TransportFactory = (o) => new WampTransport(o);
const mqtt: TransportFactory = (o) => new MqttLinkTransport(o);
const stomp: TransportFactory = (o) => new StompLinkTransport(o);

/** url scheme (with its colon, as URL.protocol has it) -> transport */
export const TRANSPORTS: Readonly<Record<string, TransportFactory>> = {
  'ws:': wamp,
  'wss:': wamp,
  'mqtt:': mqtt,
  'mqtts:': mqtt,
  'stomp:': stomp,
  'stomps:': stomp,
};

/** The transport factory for a url, or undefined for a scheme no transport speaks. */
export function transportFor(url: string): TransportFactory | undefined {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    return undefined;
  }
  return Object.hasOwn(TRANSPORTS, scheme) ? TRANSPORTS[scheme] : undefined;
}
