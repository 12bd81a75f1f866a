// A loopback TCP proxy for link-loss tests: a client given the proxy's address instead of its
// server's (a database URL, a broker URL) goes through it, and the test can cut that link and bring
// it back while the server itself keeps running for everyone else (stopping the server would cut
// every client at once). Written once for the tests that need a cut link: the change follower's
// (test/storage/embeddings/change-follower.test.ts), the MQTT last will's (test/outputs/
// mqtt-output.test.ts) and two appliances' link loss (test/service/link-loss.test.ts).
//
// cut() destroys every open connection with no goodbye (the peer sees a reset, the way a dead link
// or a dead client looks) and then, until restore(), either drops each new connection at once
// ('reset', the default: reconnects fail fast) or accepts it and holds it, forwarding nothing
// ('hold': a black hole, the client waits for its own timeout; restore() forwards what it held).
import net from 'node:net';

/** What a cut link does with the connections that arrive while it is cut. */
export type CutMode = 'reset' | 'hold';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's (user, path and query kept). */
  via(url: string): string;
  /** Destroys every open connection; until restore(), new ones are dropped ('reset') or held ('hold'). */
  cut(mode?: CutMode): void;
  /** Forwards again, the held connections included. */
  restore(): void;
  /** Whether the link is cut now. */
  readonly isCut: boolean;
  /** Connections accepted since start (dropped and held ones included): shows a client really came through. */
  readonly accepted: number;
  /** Connections being forwarded now. */
  readonly open: number;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

/** Starts a proxy on a free 127.0.0.1 port forwarding to targetHost:targetPort. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: CutMode | null = null;
  let accepted = 0;
  // Each forwarded connection is its client socket and its upstream socket; held ones are clients only.
  const pairs = new Set<[net.Socket, net.Socket]>();
  const held = new Set<net.Socket>();

  const forward = (client: net.Socket): void => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    for (const socket of pair) {
      socket.on('error', () => undefined); // a reset is what this proxy is for
      socket.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const server = net.createServer((client) => {
    accepted++;
    if (mode === 'reset') {
      client.on('error', () => undefined);
      client.destroy();
      return;
    }
    if (mode === 'hold') {
      // Read nothing: what the client sends waits in its socket until restore() forwards it.
      client.pause();
      held.add(client);
      client.on('error', () => undefined);
      client.on('close', () => held.delete(client));
      return;
    }
    forward(client);
  });

  const dropAll = (): void => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error(`Expected a TCP address for the proxy on 127.0.0.1:0 but received ${String(address)}`);
  const { port } = address;

  return {
    port,
    via(url: string): string {
      const parsed = new URL(url);
      if (parsed.host === '')
        throw new Error(`Expected a URL with a host and port to route through the proxy but received one without`);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cut(cutMode: CutMode = 'reset') {
      mode = cutMode;
      dropAll();
      if (cutMode === 'reset') {
        for (const client of held) client.destroy();
        held.clear();
      }
    },
    restore() {
      mode = null;
      const waiting = [...held];
      held.clear();
      for (const client of waiting) if (!client.destroyed) forward(client);
    },
    get isCut() {
      return mode !== null;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        for (const client of held) client.destroy();
        held.clear();
        server.close(() => resolve());
      }),
  };
}
