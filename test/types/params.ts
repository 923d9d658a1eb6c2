// req.params typed from the path: named params are strings, wildcards string[], names in
// {...} groups optional; Express 4 patterns are compile errors.
import http from 'node:http';
import { attachWebSocket, type Handler, type UpgradeRequest, type WebSocket } from 'wsgate';
import { type Equal, expectType } from './helpers';

declare const server: http.Server;

// A named param is a string: subscribe() takes it under --strict, with no cast.
attachWebSocket(server, (socket, req) => {
  socket.subscribe(req.params.room);
  expectType<Equal<typeof req.params, { room: string }>>();
  // @ts-expect-error not a param of this path
  void req.params.other;
  // @ts-expect-error a string, not a number
  const n: number = req.params.room;
  void n;
}, { path: '/chat/:room' });

// Several params; text between them; a quoted name; an escaped ":" is text.
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, { org: string; repo: string; file: string; ext: string; 'my name': string }>>();
}, { path: '/:org/:repo/\\:raw/:file.:ext/:"my name"' });

// A wildcard is the list of segments.
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, { path: string[] }>>();
  const joined: string = req.params.path.join('/');
  void joined;
  // @ts-expect-error an array, not a string
  req.params.path.toUpperCase();
}, { path: '/files/*path' });

// Names inside {...} may be absent: optional, string | undefined.
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, { id?: string; rest?: string[]; section: string }>>();
  const id: string | undefined = req.params.id;
  void id;
  // @ts-expect-error possibly undefined
  void req.params.id.length;
}, { path: '/:section/users{/:id{/*rest}}' });

// A list of paths: a name not in every one of them is optional.
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, { room: string; thread?: string }>>();
}, { path: ['/rooms/:room', '/rooms/:room/threads/:thread'] });

// A path without params: no params.
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, {}>>();
}, { path: '/ws' });

// Options whose functions are typed from context (verify, onError, use) keep the inference.
attachWebSocket(server, (socket, req) => socket.subscribe(req.params.room), {
  path: '/chat/:room',
  verify: (r) => r.headers.cookie !== undefined,
  onError: (err, { socket }) => void [err, socket],
});

// The type argument may be written out.
attachWebSocket<'/chat/:room'>(server, (socket, req) => socket.subscribe(req.params.room), { path: '/chat/:room' });

// A non-literal or absent path: loose params, any key possibly absent.
declare const somePath: string;
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, Record<string, string | string[] | undefined>>>();
  // @ts-expect-error may be an array or absent
  const room: string = req.params.room;
  void room;
}, { path: somePath });
attachWebSocket(server, (_socket, req) => {
  expectType<Equal<typeof req.params, Record<string, string | string[] | undefined>>>();
});

// A handler written apart from the call, typed by its params.
const chat: Handler<{ room: string }> = (socket, req) => socket.subscribe(req.params.room);
attachWebSocket(server, chat, { path: '/chat/:room' });
// @ts-expect-error this path has no "room"
attachWebSocket(server, chat, { path: '/chat/:name' });
function annotated(socket: WebSocket, req: UpgradeRequest<{ room: string }>): void {
  socket.subscribe(req.params.room);
}
attachWebSocket(server, annotated, { path: ['/a/:room', '/b/:room'] });
// A handler that takes the default (loose) request fits any path.
function loose(_socket: WebSocket, req: UpgradeRequest): void {
  void req.params.anything;
}
attachWebSocket(server, loose, { path: '/chat/:room' });

// Express 4 patterns, refused at startup, are compile errors too.
// @ts-expect-error Express 4 optional param: Express 5 writes "/chat{/:room}"
attachWebSocket(server, () => {}, { path: '/chat/:room?' });
// @ts-expect-error Express 4 unnamed wildcard: Express 5 writes "/files/*path"
attachWebSocket(server, () => {}, { path: '/files/*' });
// @ts-expect-error Express 4 regexp param: Express 5 writes "/:id"
attachWebSocket(server, () => {}, { path: '/:id(\\d+)' });
// @ts-expect-error Express 4 repeated param
attachWebSocket(server, () => {}, { path: '/a/:rest+' });
// @ts-expect-error one bad path in a list
attachWebSocket(server, () => {}, { path: ['/ok', '/chat/:room?'] });
// @ts-expect-error a path starts with "/"
attachWebSocket(server, () => {}, { path: 'ws' });
// @ts-expect-error unbalanced group
attachWebSocket(server, () => {}, { path: '/users{/:id' });
// @ts-expect-error a ":" without a name
attachWebSocket(server, () => {}, { path: '/users/:' });
// Their Express 5 translations compile.
attachWebSocket(server, (_s, req) => expectType<Equal<typeof req.params, { room?: string }>>(), { path: '/chat{/:room}' });
attachWebSocket(server, (_s, req) => expectType<Equal<typeof req.params, { id: string }>>(), { path: '/:id' });
attachWebSocket(server, (_s, req) => expectType<Equal<typeof req.params, { rest: string[] }>>(), { path: '/a/*rest' });
