// Options objects: known keys typed, unknown keys rejected by the types (excess property
// checks) as they are rejected with a TypeError at run time.
import http from 'node:http';
import { attachWebSocket, type WebSocket } from 'wsgate';

declare const server: http.Server;

const endpoint = attachWebSocket(server, (socket) => {
  socket.send('text');
  socket.send(Buffer.from('bytes'), { binary: true, compress: false });
  socket.send('x', (err) => void err?.message);
  socket.send('x', { binary: false }, (err) => void err);
  // @ts-expect-error unknown send option
  socket.send('x', { binray: true });
  // @ts-expect-error binary is a boolean
  socket.send('x', { binary: 1 });
  socket.ping();
  socket.close(1000, 'bye');
}, { path: '/ws', maxPayload: 1024 });

declare const sender: WebSocket;
endpoint.publish('room', 'hello', { except: sender });
endpoint.publish('room', 'hello', { except: (s) => s === sender, binary: false });
void endpoint.publishAsync('room', Buffer.alloc(1), { except: sender });
endpoint.broadcast('all', { except: sender });
// @ts-expect-error unknown publish option
endpoint.publish('room', 'hello', { exclude: sender });
// @ts-expect-error except is a socket or a predicate
endpoint.publish('room', 'hello', { except: 'me' });
// @ts-expect-error unknown broadcast option
endpoint.broadcast('all', { compress: false });
// @ts-expect-error unknown close option
void endpoint.close({ code: 1001, wait: 10 });

// @ts-expect-error unknown attachWebSocket option
attachWebSocket(server, () => {}, { path: '/ws', maxPayLoad: 1024 });
// @ts-expect-error maxPayload is a number
attachWebSocket(server, () => {}, { maxPayload: 'big' });
