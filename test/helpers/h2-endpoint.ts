// The real endpoint on an HTTP/2 server: http2.createSecureServer({ allowHTTP1: true }) with
// a certificate made at test time (or cleartext h2c), attachWebSocket on it, 127.0.0.1 and
// port 0. Tracks every session, client and TCP connection it made, and closes them all.
import http2, { type ClientHttp2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { attachWebSocket, type AttachOptions, type Endpoint, type Handler, type WebSocket } from '../../src';
import { connectSession, H2WsClient } from './h2-client';
import { testCert } from './tls';

export interface H2Site {
  server: http2.Http2SecureServer | http2.Http2Server;
  endpoint: Endpoint;
  port: number;
  /** https://127.0.0.1:port (or http:// for h2c). */
  origin: string;
  /** The server's certificate (TLS only). */
  cert: string;
  accepted: WebSocket[];
  errors: unknown[];
  /** The server side's TCP (or TLS) connections. */
  tcp: ReadonlySet<Socket>;
  /** Resolves with the next accepted server-side socket. */
  nextSocket(ms?: number): Promise<WebSocket>;
  /** A new client session (tracked). */
  session(options?: { initialWindowSize?: number }): Promise<{ session: ClientHttp2Session; firstSettings: http2.Settings }>;
  /** Opens a WebSocket on `session` (a new one when not given): the client and the server's socket. */
  open(path?: string, headers?: Record<string, string>, options?: { session?: ClientHttp2Session; paused?: boolean }): Promise<{ client: H2WsClient; socket: WebSocket; session: ClientHttp2Session }>;
  close(): Promise<void>;
}

export interface H2SiteOptions {
  /** Cleartext h2c (http2.createServer) instead of TLS. */
  cleartext?: boolean;
  /** allowHTTP1 on the TLS server. Default true. */
  allowHTTP1?: boolean;
  /** The server's request handler (ordinary HTTP/2 and HTTP/1.1 requests). */
  app?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
}

export async function startH2Site(
  options: AttachOptions = {},
  onSocket: Handler = () => {},
  siteOptions: H2SiteOptions = {},
): Promise<H2Site> {
  const { key, cert } = testCert();
  const app = siteOptions.app ?? ((_req, res) => res.end('http ok'));
  const server = siteOptions.cleartext
    ? http2.createServer(app)
    : http2.createSecureServer({ key, cert, allowHTTP1: siteOptions.allowHTTP1 ?? true }, app);
  const accepted: WebSocket[] = [];
  const waiters: ((s: WebSocket) => void)[] = [];
  const errors: unknown[] = [];
  const endpoint = attachWebSocket(
    server,
    (socket, req) => {
      const result = onSocket(socket, req);
      const waiter = waiters.shift();
      if (waiter) waiter(socket);
      else accepted.push(socket);
      return result;
    },
    { heartbeat: false, onError: (err) => errors.push(err), ...options },
  );
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `${siteOptions.cleartext ? 'http' : 'https'}://127.0.0.1:${port}`;
  const sessions: ClientHttp2Session[] = [];

  const site: H2Site = {
    server,
    endpoint,
    port,
    origin,
    cert,
    accepted,
    errors,
    tcp: sockets,
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
    async session(sessionOptions = {}) {
      const made = await connectSession(origin, { ca: siteOptions.cleartext ? undefined : cert, ...sessionOptions });
      sessions.push(made.session);
      return made;
    },
    async open(path = '/', headers = {}, openOptions = {}) {
      const session = openOptions.session ?? (await site.session()).session;
      const client = await H2WsClient.open(session, path, headers, { paused: openOptions.paused });
      const socket = await site.nextSocket();
      return { client, socket, session };
    },
    async close() {
      for (const s of endpoint.clients) s.terminate();
      // The server side's TCP connections go first; client sessions then end on their own.
      // (Calling destroy() on a client session right away was seen to hang inside Node,
      // in test teardown, with one stream still open.)
      for (const s of sockets) s.destroy();
      for (let i = 0; i < 100 && sessions.some((s) => !s.destroyed); i++) await delay(10);
      for (const s of sessions) if (!s.destroyed) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return site;
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms for at most `ms`. */
export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('until: timed out');
    await delay(10);
  }
}
