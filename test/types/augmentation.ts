// What middleware adds to the request is typed by augmenting UpgradeRequest, as the README
// documents (`interface UpgradeRequest { user?: User }`). The interface is generic (its params);
// the augmentation needs no type parameter. The names here are ones no other test uses: the
// root tsconfig compiles this file with every test, so the augmentation applies to all of them.
import http from 'node:http';
import { attachWebSocket, type UpgradeRequest } from 'wsgate';
import { type Equal, expectType } from './helpers';

interface Account {
  id: string;
  name: string;
}

declare module 'wsgate' {
  interface UpgradeRequest {
    account?: Account;
    tenant?: { id: string; expires: number };
  }
}

declare const server: http.Server;

attachWebSocket(server, (socket, req) => {
  expectType<Equal<typeof req.account, Account | undefined>>();
  if (!req.account) return socket.close(4001, 'who are you?');
  socket.subscribe(`account:${req.account.id}`);
  socket.subscribe(req.params.room);
  // @ts-expect-error an augmented property keeps its type
  const expires: string = req.tenant?.expires;
  void expires;
}, { path: '/chat/:room' });

// Also on the request type as written by hand, loose or typed.
function withUser(req: UpgradeRequest<{ room: string }>): string | undefined {
  return req.account?.name;
}
function loose(req: UpgradeRequest): string | undefined {
  return req.tenant?.id;
}
void withUser;
void loose;
