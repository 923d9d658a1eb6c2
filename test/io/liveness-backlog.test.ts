// The heartbeat's ping waits behind whatever the server already queued. A client that is
// alive but slowly reading a large backlog cannot answer it in time; it must not be taken
// for dead as long as it keeps draining. One that stops reading altogether must be.
import type { Socket } from 'node:net';
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let t: WsServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** The next chunk the client reads; fails (instead of hanging) if the server drops it first. */
function nextChunk(socket: Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off('data', onData).off('close', onClose);
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => done();
    const onClose = () => done(new Error('the server closed the connection while the client was reading'));
    const timer = setTimeout(() => done(new Error('no data for 5 s')), 5000);
    socket.on('data', onData).on('close', onClose);
  });
}

const TIMEOUT = 1000; // the ping timeout, short for the test; the reads below outlast it

test('a slow reader with a large backlog is kept while it drains, dropped once it stops', async () => {
  t = await startWsServer({ heartbeat: { interval: 200, timeout: TIMEOUT }, maxBackpressure: 256 << 20 });
  const client = await t.rawClient('/');
  const server = await t.nextSocket();
  let closedAt = 0;
  const closed = once<[number]>(server, 'close', 20_000).then((args) => {
    closedAt = Date.now();
    return args;
  });

  client.socket.pause();
  // Far more than the kernel buffers hold. Node reports progress per completed write, so
  // messages of 64 KiB let the drain show within the (short, for the test) timeout.
  const chunk = Buffer.alloc(64 << 10, 7);
  for (let i = 0; i < 1536; i++) server.send(chunk);
  await delay(50);
  expect(server.bufferedAmount).toBeGreaterThan(8 << 20);

  // Read one socket chunk every 5 ms for 2.5 timeouts: slower than the backlog would need,
  // but steady (the kernel only reports room in the send buffer in large steps, hence not
  // slower). Never send a pong.
  const readingUntil = Date.now() + 2.5 * TIMEOUT;
  while (Date.now() < readingUntil) {
    client.socket.resume();
    await nextChunk(client.socket);
    client.socket.pause();
    await delay(5);
  }
  expect(closedAt).toBe(0);
  expect(server.readyState).toBe(1);
  expect(server.bufferedAmount).toBeGreaterThan(0); // the backlog is still there

  // Stop reading: no progress, no pong: terminated within timeout plus a few ticks.
  const stoppedAt = Date.now();
  const [code] = await closed;
  expect(code).toBe(1006);
  expect(closedAt - stoppedAt).toBeLessThan(TIMEOUT + 3000);
}, 30_000);
