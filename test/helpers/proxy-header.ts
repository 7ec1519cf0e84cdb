/**
 * PROXY protocol headers as a proxy writes them (haproxy's "The PROXY protocol" v1 and
 * v2), built here by hand, independent of the router's parser, for tests that play the
 * proxy in front of a listener.
 */
import net from 'node:net';

/** v1: "PROXY TCP4|TCP6 <client> <destination> <client port> <destination port>\r\n" */
export function proxyV1(client: string, clientPort: number, destinationPort = 1883): Buffer {
  const family = net.isIPv6(client) ? 'TCP6' : 'TCP4';
  const destination = family === 'TCP6' ? '::1' : '127.0.0.1';
  return Buffer.from(`PROXY ${family} ${client} ${destination} ${clientPort} ${destinationPort}\r\n`, 'latin1');
}

/** v2, command PROXY over TCP: signature, version/command, family/transport, length, addresses, ports. */
export function proxyV2(client: string, clientPort: number, destinationPort = 1883): Buffer {
  const v6 = net.isIPv6(client);
  const addresses = v6
    ? Buffer.concat([ipv6Bytes(client), ipv6Bytes('::1')])
    : Buffer.from([...client.split('.').map(Number), 127, 0, 0, 1]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(clientPort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  const body = Buffer.concat([addresses, ports]);
  const fixed = Buffer.from([
    0x0d,
    0x0a,
    0x0d,
    0x0a,
    0x00,
    0x0d,
    0x0a,
    0x51,
    0x55,
    0x49,
    0x54,
    0x0a,
    0x21,
    v6 ? 0x21 : 0x11,
    0,
    0,
  ]);
  fixed.writeUInt16BE(body.length, 14);
  return Buffer.concat([fixed, body]);
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.from(all.map((g) => g.padStart(4, '0')).join(''), 'hex');
}
