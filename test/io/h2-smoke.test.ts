import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { attachWebSocket } from '../../src';
import { testCert } from '../helpers/tls';

test('smoke: undici over h2 through the real endpoint', async () => {
  const { key, cert } = testCert();
  const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, (_req, res) => res.end('ok'));
  const ep = attachWebSocket(server, (s) => s.on('message', (d, b) => s.send(d, { binary: b })), { path: '/ws', heartbeat: false });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ allowH2: true, connect: { rejectUnauthorized: false } });
  const ws = new UndiciWebSocket(`wss://127.0.0.1:${port}/ws`, { dispatcher: agent } as never);
  const got = await new Promise<string>((resolve, reject) => {
    ws.onopen = () => ws.send('héllo');
    ws.onmessage = (e) => resolve(String(e.data));
    ws.onerror = (e) => reject(e);
  });
  expect(got).toBe('héllo');
  expect(ep.stats().byTransport).toEqual({ 'http/1.1': 0, h2: 1 });
  ws.close();
  await ep.close();
  await agent.close();
  server.close();
});
