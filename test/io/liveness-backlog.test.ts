// The heartbeat's ping waits behind whatever the server already queued. A client that is
// alive but slowly reading a large backlog cannot answer it in time; it must not be taken
// for dead as long as it keeps draining. One that stops reading altogether must be.
import { delay, once } from '../helpers/server';
import { startWsServer, type WsServer } from '../helpers/ws-server';

let t: WsServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

test('a slow reader with a large backlog is kept while it drains, dropped once it stops', async () => {
  t = await startWsServer({ heartbeat: { interval: 100, timeout: 400 }, maxBackpressure: 256 << 20 });
  const client = await t.rawClient('/');
  const server = await t.nextSocket();
  let closedAt = 0;
  const closed = once<[number]>(server, 'close', 10_000).then((args) => {
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

  // Read one socket chunk every 5 ms for 1.5 s: slower than the backlog would need, but
  // steady (the kernel only reports room in the send buffer in large steps, hence not slower).
  // Never send a pong.
  const readingUntil = Date.now() + 1500;
  while (Date.now() < readingUntil) {
    client.socket.resume();
    await new Promise<void>((resolve) => client.socket.once('data', () => resolve()));
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
  expect(closedAt - stoppedAt).toBeLessThan(3000);
});
