/**
 * A TCP proxy inside a test, between a link and its peer: cut() is the network failing
 * (every connection through it destroyed, new ones refused), restore() its return.
 * Listens on a loopback port 0; the target may be set later (routers that link to each
 * other in a ring need each other's ports).
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** where connections go; until set, they are refused */
  target: number | undefined;
  /** connections accepted through the proxy so far */
  readonly accepted: number;
  cut(): void;
  /** connections stay open, and every byte either way is lost from now on */
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target?: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let up = true;
  let stalled = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    if (!up || proxy.target === undefined) {
      client.destroy();
      return;
    }
    accepted++;
    const upstream = net.connect({ host: '127.0.0.1', port: proxy.target });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d: Buffer) => {
      if (!stalled) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!stalled) client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp proxy: no port');
  const proxy: TcpProxy = {
    port: address.port,
    target,
    get accepted() {
      return accepted;
    },
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    stall() {
      stalled = true;
    },
    restore() {
      up = true;
      // a stalled connection lost bytes: it cannot carry on, the next one starts clean
      if (stalled) {
        stalled = false;
        for (const s of sockets) s.destroy();
        sockets.clear();
      }
    },
    close() {
      proxy.cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
