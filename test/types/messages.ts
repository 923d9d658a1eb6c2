// The 'message' listener: text arrives as a string, binary as a Buffer. The idiom that narrows
// is a test on the data itself; a one-parameter listener stays valid.
import http from 'node:http';
import { attachWebSocket } from 'wsgate';
import { type Equal, expectType } from './helpers';

declare const server: http.Server;

attachWebSocket(server, (socket) => {
  socket.on('message', (data, isBinary) => {
    expectType<Equal<typeof isBinary, boolean>>();
    if (typeof data === 'string') {
      const shout: string = data.toUpperCase();
      socket.send(shout);
    } else {
      const bytes: Buffer = data;
      socket.send(bytes, { binary: isBinary });
    }
    // @ts-expect-error without the test, data may be a Buffer
    data.toUpperCase();
  });
  socket.on('message', (data) => {
    const either: string | Buffer = data;
    void either;
  });
  socket.once('message', (data: string | Buffer) => void data);
  socket.on('close', (code, reason) => {
    const c: number = code;
    const r: string = reason;
    void [c, r];
  });
  // @ts-expect-error no such event
  socket.on('messages', () => {});
});
