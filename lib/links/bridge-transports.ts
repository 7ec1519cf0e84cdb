import { Errors, RouterError } from '../errors';
import { MqttLinkTransport, type MqttTransportOptions } from './mqtt-transport';
import { StompLinkTransport, type StompTransportOptions } from './stomp-transport';
import type { LinkTransport, LinkTransportOptions } from './transport';

/**
 * The transports to other brokers by url scheme (README "Bridges to MQTT and STOMP
 * brokers"); ws:// and wss:// (WAMP) are the link core's own. Undefined for a scheme this
 * module does not handle, so a factory map can ask each in turn.
 */
export function bridgeTransportFor(
  options: LinkTransportOptions,
  perProtocol: { mqtt?: MqttTransportOptions; stomp?: StompTransportOptions } = {},
): LinkTransport | undefined {
  let scheme: string;
  try {
    scheme = new URL(options.url).protocol;
  } catch {
    throw new RouterError(Errors.invalidArgument, `not a url: ${options.url}`);
  }
  switch (scheme) {
    case 'mqtt:':
    case 'mqtts:':
      return new MqttLinkTransport(options, perProtocol.mqtt);
    case 'stomp:':
    case 'stomps:':
      return new StompLinkTransport(options, perProtocol.stomp);
    default:
      return undefined;
  }
}
