// The wsgate demo: an Express app with a page at /, /health, and a WebSocket endpoint at /ws
// on the same http.Server. createDemo() builds everything without listening, so tests can
// listen on port 0 and server.ts can listen on PORT. With `tls`, the same app runs on
// http2.createSecureServer({ allowHTTP1: true }): HTTPS, HTTP/2 for browsers that speak it
// (their wss:// socket then travels as an HTTP/2 stream, RFC 8441), HTTP/1.1 for the rest.
import fs from 'node:fs';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import path from 'node:path';
import express from 'express';
import { attachWebSocket, type AttachOptions, type Endpoint, type WebSocket } from 'wsgate';
import { forHttp2 } from './h2-express';

export interface DemoOptions {
  /** Browser origins allowed to open the socket. Default: this server's own origin on its port. */
  origins?: AttachOptions['origins'];
  /** How often the server pushes the time (ms). Default 1000. */
  clockInterval?: number;
  /** Called for every accepted socket after the demo's own handler (tests hook in here). */
  onConnection?: (socket: WebSocket, req: IncomingMessage) => void;
  /** Serve HTTPS + HTTP/2 (allowHTTP1) with this key and certificate instead of plain HTTP. */
  tls?: { key: string; cert: string };
}

export interface Demo<S = http.Server> {
  /** The Express app (for the HTTP/1.1 requests; HTTP/2 ones go to a twin with the same routes). */
  app: express.Express;
  server: S;
  endpoint: Endpoint;
  /** Closes the sockets (1001), stops the clock and the server. */
  close(): Promise<void>;
}

// Found both when run from demo/ (ts-node, jest) and from dist-demo/demo/ (npm start).
function publicDir(): string {
  const candidates = [path.join(__dirname, 'public'), path.join(__dirname, '..', '..', 'demo', 'public')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html'))) ?? candidates[0];
}

function routes(app: express.Express): express.Express {
  app.get('/health', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.use(express.static(publicDir()));
  return app;
}

export function createDemo(options: DemoOptions & { tls: { key: string; cert: string } }): Demo<http2.Http2SecureServer>;
export function createDemo(options?: DemoOptions): Demo;
export function createDemo(options: DemoOptions = {}): Demo<http.Server | http2.Http2SecureServer> {
  const app = routes(express());
  const scheme = options.tls ? 'https' : 'http';
  let server: http.Server | http2.Http2SecureServer;
  const connections = new Set<Socket>();
  if (options.tls) {
    // Express needs its own prototypes for HTTP/2 requests (see h2-express.ts).
    const h2app = forHttp2(routes(express()));
    server = http2.createSecureServer({ key: options.tls.key, cert: options.tls.cert, allowHTTP1: true }, (req, res) => {
      if (req.httpVersion === '2.0') h2app(req as never, res as never);
      else app(req as never, res as never);
    });
    server.on('connection', (socket: Socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
    });
  } else {
    server = http.createServer(app);
  }

  // Only pages served by this very server may connect: a page on another site could otherwise
  // open a socket with the visitor's cookies (cross-site WebSocket hijacking). The port is read
  // when a request comes in, so this also works with PORT=0.
  // DEMO_ORIGINS="http://192.168.1.20:8080,https://demo.example" allows more, e.g. a LAN address.
  const extraOrigins = (process.env.DEMO_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim().toLowerCase())
    .filter((o) => o !== '');
  const ownOrigin = (origin: string): boolean => {
    const address = server.address();
    if (address === null || typeof address === 'string') return false;
    const { port } = address;
    const allowed = [`${scheme}://localhost:${port}`, `${scheme}://127.0.0.1:${port}`, `${scheme}://[::1]:${port}`, ...extraOrigins];
    return allowed.includes(origin.toLowerCase());
  };

  const clockEvery = options.clockInterval ?? 1000;
  let clock: NodeJS.Timeout | null = null;
  const tick = (extra: object = {}) => JSON.stringify({ type: 'clock', now: new Date().toISOString(), clients: endpoint.clients.size, ...extra });

  const endpoint = attachWebSocket(
    server,
    (socket, req) => {
      // The protocol: anything a client sends comes back unchanged (text as text, binary as
      // binary); the server's own messages are JSON objects with a "type".
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));

      // The server talks first: the time right away, then every second, with no request.
      // The first push also says how this socket travels: 'h2' (an HTTP/2 stream) or 'http/1.1'.
      socket.subscribe('clock');
      socket.send(tick({ transport: socket.transportKind }));
      clock ??= setInterval(() => endpoint.publish('clock', tick()), clockEvery).unref();
      socket.on('close', () => {
        if (clock !== null && endpoint.topics.subscriberCount('clock') === 0) {
          clearInterval(clock);
          clock = null;
        }
      });
      options.onConnection?.(socket, req);
    },
    {
      path: '/ws',
      perMessageDeflate: true,
      origins: options.origins ?? ownOrigin,
      maxPayload: 1024 * 1024, // the default, written out: the page can send up to 1 MiB
    },
  );

  const close = async () => {
    if (clock !== null) clearInterval(clock);
    clock = null;
    await endpoint.close({ code: 1001, reason: 'server shutting down', timeout: 2000 });
    if (!server.listening) return;
    await new Promise<void>((resolve) => {
      if (server instanceof http.Server) server.closeAllConnections();
      for (const socket of connections) socket.destroy();
      server.close(() => resolve());
    });
  };

  return { app, server, endpoint, close };
}
