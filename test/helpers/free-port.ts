// Loopback port helpers for the disposable test servers (disposable-redis.ts, disposable-postgres.ts).
import net from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks one for a listener on port 0,
 * which we then close. Another process may still take it before our server binds it; the disposable
 * servers retry with a new port when their bind fails.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`Expected a TCP address from a listener on 127.0.0.1:0 but received ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port is refused right now (nothing listens there). */
export function portRefuses(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (refused: boolean): void => {
      socket.destroy();
      resolve(refused);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(false));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

/** Waits until nothing listens on 127.0.0.1:port any more, or throws after timeoutMs. */
export async function waitUntilPortRefuses(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await portRefuses(port)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Expected 127.0.0.1:${port} to refuse connections within ${timeoutMs} ms but it still accepts them`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
