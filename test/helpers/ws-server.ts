// A wsgate endpoint on a real server, handing each accepted socket to the test, and
// cleaning up every socket and client it knows of.
import WebSocketClient from 'ws';
import { attachWebSocket, type AttachOptions, type Endpoint, type WebSocket } from '../../src';
import { RawClient } from './raw-client';
import { once, startServer, type TestServer } from './server';

export interface WsServer extends TestServer {
  endpoint: Endpoint;
  /** Resolves with the next server-side socket (in accept order). */
  nextSocket(ms?: number): Promise<WebSocket>;
  /** A `ws` client, open; closed by close(). */
  wsClient(path?: string, options?: WebSocketClient.ClientOptions): Promise<WebSocketClient>;
  /** A raw client past the handshake; destroyed by close(). */
  rawClient(path?: string, options?: { allowHalfOpen?: boolean }): Promise<RawClient>;
}

export async function startWsServer(
  options: AttachOptions = {},
  onSocket: (socket: WebSocket) => void = () => {},
): Promise<WsServer> {
  const t = await startServer();
  const accepted: WebSocket[] = [];
  const waiters: ((s: WebSocket) => void)[] = [];
  const clients: { terminate(): void }[] = [];
  const endpoint = attachWebSocket(
    t.server,
    (socket) => {
      onSocket(socket);
      const waiter = waiters.shift();
      if (waiter) waiter(socket);
      else accepted.push(socket);
    },
    { heartbeat: false, ...options },
  );
  return {
    ...t,
    endpoint,
    nextSocket(ms = 5000) {
      const ready = accepted.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no socket was accepted')), ms);
        waiters.push((s) => {
          clearTimeout(timer);
          resolve(s);
        });
      });
    },
    async wsClient(path = '/', clientOptions) {
      const client = new WebSocketClient(t.url(path), clientOptions);
      client.on('error', () => {});
      clients.push(client);
      await once(client, 'open');
      return client;
    },
    async rawClient(path = '/', rawOptions = {}) {
      const client = await RawClient.open(t.port, path, {}, rawOptions);
      clients.push({ terminate: () => client.destroy() });
      return client;
    },
    async close() {
      for (const c of clients) c.terminate();
      for (const s of endpoint.clients) s.terminate();
      await t.close();
    },
  };
}

/**
 * Closes the server, then waits (bounded) until every socket has emitted 'close': sockets
 * free their zlib contexts then, which comes after the server itself has closed.
 */
export async function closeAndSettle(srv: WsServer | null): Promise<void> {
  if (!srv) return;
  await srv.close();
  for (let i = 0; i < 200 && srv.endpoint.clients.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
}
