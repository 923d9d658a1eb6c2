// What middleware adds to the request is typed by augmenting UpgradeRequest, as the README
// documents. The interface is generic (its params); the augmentation needs no type parameter.
import http from 'node:http';
import { attachWebSocket, type UpgradeRequest } from 'wsgate';
import { type Equal, expectType } from './helpers';

interface User {
  id: string;
  name: string;
}

declare module 'wsgate' {
  interface UpgradeRequest {
    user?: User;
    session?: { expires: number };
  }
}

declare const server: http.Server;

attachWebSocket(server, (socket, req) => {
  expectType<Equal<typeof req.user, User | undefined>>();
  if (!req.user) return socket.close(4001, 'who are you?');
  socket.subscribe(`user:${req.user.id}`);
  socket.subscribe(req.params.room);
  // @ts-expect-error an augmented property keeps its type
  const expires: string = req.session?.expires;
  void expires;
}, { path: '/chat/:room' });

// Also on the request type as written by hand, loose or typed.
function withUser(req: UpgradeRequest<{ room: string }>): string | undefined {
  return req.user?.name;
}
function loose(req: UpgradeRequest): string | undefined {
  return req.user?.id;
}
void withUser;
void loose;
