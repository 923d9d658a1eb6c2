// A chat on Express: log in at /login?name=alice (a signed cookie), then open a WebSocket
// to /chat/:room. Rooms are topics; a message goes to everyone else in the room.
// SIGTERM shuts down cleanly: clients get 1001 and the process exits 0.
//
//   npm run build && npx ts-node --transpile-only examples/chat/server.ts
//   open http://localhost:8080/login?name=alice
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import cookieParser from 'cookie-parser';
import express, { type NextFunction, type Request, type Response } from 'express';
import { attachWebSocket } from 'wsgate';

/** What the auth middleware adds to the request. */
type WithUser = { user: string };

export function createChat(secret = process.env.COOKIE_SECRET ?? 'change me') {
  const app = express();
  app.use(cookieParser(secret));

  app.get('/login', (req, res) => {
    const name = String(req.query.name ?? '').trim();
    if (!/^[\w-]{1,32}$/.test(name)) return res.status(400).send('name: 1 to 32 letters, digits, - or _');
    res.cookie('user', name, { signed: true, httpOnly: true, sameSite: 'strict' });
    res.redirect('/');
  });

  app.get('/', (req, res) => {
    if (!req.signedCookies.user) return res.redirect('/login?name=guest');
    res.type('html').send(PAGE);
  });

  const server = http.createServer(app);

  // Runs before the upgrade, as on an HTTP route: without the cookie the client gets a real 401.
  function auth(req: Request, res: Response, next: NextFunction) {
    const user = req.signedCookies?.user;
    if (typeof user !== 'string') return res.status(401).send('log in first');
    (req as Request & WithUser).user = user;
    next();
  }

  const endpoint = attachWebSocket(
    server,
    (socket, req) => {
      const { user } = req as typeof req & WithUser;
      const room = `room:${req.params.room}`;
      socket.subscribe(room);
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        endpoint.publish(room, JSON.stringify({ user, text: String(data) }), { except: socket });
      });
    },
    { path: '/chat/:room', app, use: [cookieParser(secret), auth] },
  );

  async function shutdown(): Promise<void> {
    server.close(); // no new connections
    await endpoint.close({ code: 1001, reason: 'server shutting down', timeout: 5000 });
    server.closeAllConnections(); // idle keep-alive HTTP connections
  }

  return { app, server, endpoint, shutdown };
}

const PAGE = `<!doctype html><title>chat</title>
<p>room <input id="room" value="lobby"> <button id="join">join</button></p>
<form id="form"><input id="text" autocomplete="off"> <button>send</button></form><pre id="log"></pre>
<script>
let ws;
const log = (line) => (document.getElementById('log').textContent += line + '\\n');
document.getElementById('join').onclick = () => {
  ws?.close();
  ws = new WebSocket(location.origin.replace('http', 'ws') + '/chat/' + encodeURIComponent(room.value));
  ws.onmessage = (e) => { const m = JSON.parse(e.data); log(m.user + ': ' + m.text); };
  ws.onclose = (e) => log('closed ' + e.code);
};
document.getElementById('form').onsubmit = (e) => { e.preventDefault(); ws?.send(text.value); log('me: ' + text.value); text.value = ''; };
document.getElementById('join').click();
</script>`;

if (require.main === module) {
  const chat = createChat();
  const port = Number(process.env.PORT ?? 8080);
  chat.server.listen(port, process.env.HOST ?? 'localhost', () => {
    const { address, port: actual } = chat.server.address() as AddressInfo;
    console.log(`chat listening on http://${address}:${actual}`);
  });
  process.once('SIGTERM', () => {
    chat.shutdown().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
