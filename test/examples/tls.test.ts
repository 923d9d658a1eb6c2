// examples/tls: wss:// echo on https.createServer with a certificate made by openssl at start.
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WsClient from 'ws';
import { createTlsEcho, selfSignedCert } from '../../examples/tls/server';
import { connect } from './run-example';

let dir: string;
let tls: ReturnType<typeof selfSignedCert>;
let echo: ReturnType<typeof createTlsEcho>;
let port: number;
const clients: WsClient[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-tls-example-test-'));
  tls = selfSignedCert(dir);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  echo = createTlsEcho(tls);
  await new Promise<void>((resolve) => echo.server.listen(0, '127.0.0.1', resolve));
  port = (echo.server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  echo.server.close();
  await echo.endpoint.close({ timeout: 500 });
  echo.server.closeAllConnections();
});

function nextMessage(client: WsClient): Promise<[Buffer, boolean]> {
  return new Promise((resolve) => client.once('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary])));
}

test('a client trusting the certificate gets its text and binary messages back over wss', async () => {
  const client = await connect(`wss://127.0.0.1:${port}/echo`, { ca: tls.cert });
  clients.push(client);
  client.send('hello tls');
  const [text, textIsBinary] = await nextMessage(client);
  expect([text.toString(), textIsBinary]).toEqual(['hello tls', false]);
  const bytes = Buffer.from([0, 1, 2, 0xff]);
  client.send(bytes);
  const [binary, isBinary] = await nextMessage(client);
  expect(isBinary).toBe(true);
  expect(binary.equals(bytes)).toBe(true);
  expect(echo.endpoint.stats().connections).toBe(1);
});

test('rejectUnauthorized: false also connects (the certificate is self-signed)', async () => {
  const client = await connect(`wss://localhost:${port}/echo`, { rejectUnauthorized: false });
  clients.push(client);
  client.send('ok');
  expect((await nextMessage(client))[0].toString()).toBe('ok');
});

test('an untrusting client is refused by TLS, and HTTPS routes share the port', async () => {
  await expect(connect(`wss://127.0.0.1:${port}/echo`)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/', ca: tls.cert }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  expect(body).toBe('hello over https\n');
  expect(echo.endpoint.stats().accepted).toBe(0);
});
