// The demo in its HTTPS + HTTP/2 mode (DEMO_HTTPS=1 / npm run start:h2): the same Express
// routes over HTTP/2 and HTTP/1.1 on one port, the socket over an HTTP/2 stream (RFC 8441)
// or an HTTP/1.1 upgrade, its first push saying which, and the certificate made by
// demo/cert.ts (openssl) and cached outside the repository.
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WsClient from 'ws';
import { createDemo, type Demo } from '../../demo/app';
import { demoCert } from '../../demo/cert';
import { connectSession, H2WsClient } from '../helpers/h2-client';

let dir: string;
let cert: ReturnType<typeof demoCert>;
let demo: Demo<http2.Http2SecureServer>;
let port: number;
let origin: string;
const sessions: http2.ClientHttp2Session[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-demo-cert-test-'));
  cert = demoCert(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  demo = createDemo({ tls: cert });
  await new Promise<void>((resolve) => demo.server.listen(0, '127.0.0.1', resolve));
  port = (demo.server.address() as AddressInfo).port;
  origin = `https://127.0.0.1:${port}`;
});

afterEach(async () => {
  for (const s of sessions.splice(0)) if (!s.destroyed) s.close();
  await demo.close();
});

async function session(): Promise<http2.ClientHttp2Session> {
  const { session: s } = await connectSession(origin, { ca: cert.cert });
  sessions.push(s);
  return s;
}

function h2Get(s: http2.ClientHttp2Session, p: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': p });
    let status = 0;
    let type = '';
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      type = String(h['content-type']);
    });
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve({ status, type, body }));
    req.on('error', reject);
    req.end();
  });
}

test('the certificate is made once and then read from its cache', () => {
  expect(cert.fresh).toBe(true);
  expect(cert.cert).toMatch(/BEGIN CERTIFICATE/);
  const again = demoCert(dir);
  expect(again.fresh).toBe(false);
  expect(again.cert).toBe(cert.cert);
  expect(fs.statSync(path.join(dir, 'key.pem')).mode & 0o077).toBe(0);
});

test('the page, its script and /health over HTTP/2, and the page over HTTP/1.1, on one port', async () => {
  const s = await session();
  const page = await h2Get(s, '/');
  expect(page.status).toBe(200);
  expect(page.type).toMatch(/^text\/html/);
  expect(page.body).toContain('id="transport"');
  expect((await h2Get(s, '/client.js')).status).toBe(200);
  expect(await h2Get(s, '/health')).toMatchObject({ status: 200, body: 'ok' });
  const h1 = await new Promise<{ status: number; version: string; body: string }>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/health', ca: cert.cert, servername: 'localhost', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, version: res.httpVersion, body }));
      })
      .on('error', reject);
  });
  expect(h1).toEqual({ status: 200, version: '1.1', body: 'ok' });
});

test("an HTTP/2 client's socket is a stream: the first push says 'h2', echoes work", async () => {
  const s = await session();
  const client = await H2WsClient.open(s, '/ws', { origin: `https://localhost:${port}` });
  await client.waitFor(() => client.frames.length > 0);
  const first = JSON.parse(client.frames[0].payload.toString());
  expect(first).toMatchObject({ type: 'clock', transport: 'h2', clients: 1 });
  client.send({ opcode: 0x1, payload: 'hello over h2' });
  await client.waitFor(() => client.frames.some((f) => f.payload.toString() === 'hello over h2'));
  expect(demo.endpoint.stats().byTransport).toEqual({ 'http/1.1': 0, h2: 1 });
  client.send({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
  await client.waitClosed();
});

test("an HTTP/1.1 client on the same port gets 'http/1.1'", async () => {
  const ws = new WsClient(`wss://127.0.0.1:${port}/ws`, { ca: cert.cert, origin: `https://127.0.0.1:${port}` });
  ws.on('error', () => {});
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    ws.once('message', (d) => resolve(JSON.parse(String(d))));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode}`)));
  });
  expect(first).toMatchObject({ type: 'clock', transport: 'http/1.1' });
  ws.terminate();
});

test('the origin check knows its https origin: a page from elsewhere gets 403', async () => {
  const s = await session();
  const plain = await H2WsClient.request(s, '/ws', { origin: `http://localhost:${port}` });
  expect(plain.status).toBe(403);
  const foreign = await H2WsClient.request(s, '/ws', { origin: 'https://evil.example' });
  expect(foreign.status).toBe(403);
});
