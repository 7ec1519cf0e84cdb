/**
 * Which transport speaks to a link's peer, by the scheme of its url (README "Links").
 * The one place that knows the transports: each protocol adds its schemes here.
 */
import type * as MqttTransport from './mqtt-transport';
import type * as StompTransport from './stomp-transport';
import type { LinkTransport, LinkTransportOptions } from './transport';
import type * as WampTransport from './wamp-transport';

export type TransportFactory = (options: LinkTransportOptions) => LinkTransport;

// Each transport (and its client library: mqtt.js for MQTT) is loaded when a link first
// uses it, not by every router (README "Footprint").
/* eslint-disable @typescript-eslint/no-require-imports -- modules loaded on first use */
const wamp: TransportFactory = (o) => new (require('./wamp-transport') as typeof WampTransport).WampTransport(o);
const mqtt: TransportFactory = (o) => new (require('./mqtt-transport') as typeof MqttTransport).MqttLinkTransport(o);
const stomp: TransportFactory = (o) => new (require('./stomp-transport') as typeof StompTransport).StompLinkTransport(o);
/* eslint-enable @typescript-eslint/no-require-imports */

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
