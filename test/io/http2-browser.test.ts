// Chromium and RFC 8441: a page served over HTTPS + HTTP/2 opens wss:// on its own origin.
// With listenHttp2 attached (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), the socket arrives as an
// extended CONNECT stream on the page's own HTTP/2 session; without it, Chromium opens a
// separate HTTP/1.1 connection and sends a classic upgrade.
// Required in CI (CI is set); skipped with a message on machines without /usr/bin/chromium.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { listenHttp2 } from '../../src/io/http2-listen';
import { testCert } from '../helpers/tls';
import { type EchoConnection, runEcho } from '../transport/h2-echo';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);

if (!haveChromium && process.env.CI) {
  test('Chromium is installed for the HTTP/2 browser test', () => {
    throw new Error(`${CHROMIUM} is missing; install it with apt-get install chromium`);
  });
} else if (!haveChromium) {
  console.warn(`http2-browser.test.ts: SKIPPED, ${CHROMIUM} not found (apt-get install chromium to run it)`);
}

const maybe = haveChromium ? describe : describe.skip;

const PAGE = `<!doctype html><meta charset="utf-8"><title>h2 ws</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket('wss://' + location.host + '/ws');
  ws.onopen = () => ws.send('hello from chromium');
  ws.onmessage = (e) => { resolve({ echoed: e.data }); ws.close(1000, 'done'); };
  ws.onerror = () => resolve({ error: true });
});
</script>`;

interface Site {
  server: http2.Http2SecureServer;
  origin: string;
  pageVersions: string[];
  h2Sockets: EchoConnection[];
  h1Upgrades: string[];
  close(): Promise<void>;
}

async function site(withH2: boolean): Promise<Site> {
  const pageVersions: string[] = [];
  const h1Upgrades: string[] = [];
  const h2Sockets: EchoConnection[] = [];
  const server = http2.createSecureServer({ ...testCert(), allowHTTP1: true }, (req, res) => {
    pageVersions.push(req.httpVersion);
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  // HTTP/1.1 upgrades on the same port: a bare 101, enough for the page's socket to open.
  server.on('upgrade', (req: import('node:http').IncomingMessage, socket: Socket) => {
    h1Upgrades.push(`${req.httpVersion} ${req.url}`);
    const key = String(req.headers['sec-websocket-key']);
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.on('data', (data: Buffer) => {
      // Echo one short masked text frame back unmasked (enough for this page).
      const len = data[1] & 0x7f;
      if ((data[0] & 0x0f) !== 0x1 || len > 125) return socket.end();
      const mask = data.subarray(2, 6);
      const payload = Buffer.from(data.subarray(6, 6 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      socket.write(Buffer.concat([Buffer.from([0x81, len]), payload]));
    });
    socket.on('error', () => {});
  });
  const listening = withH2 ? listenHttp2(server, (attempt) => runEcho(attempt, {}, h2Sockets)) : { close() {} };
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pageVersions,
    h2Sockets,
    h1Upgrades,
    close: async () => {
      listening.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

maybe('Chromium over HTTP/2', () => {
  let context: BrowserContext;
  let userDataDir: string;
  const sites: Site[] = [];

  beforeAll(async () => {
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-chromium-h2-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
        '--disable-quic',
        '--ignore-certificate-errors',
      ],
    });
  }, 60000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    for (const s of sites) await s.close();
  });

  async function load(s: Site): Promise<{ echoed?: string; error?: boolean }> {
    const page = await context.newPage();
    try {
      await page.goto(`${s.origin}/`);
      return await page.evaluate(() => (globalThis as unknown as { result: Promise<{ echoed?: string }> }).result);
    } finally {
      await page.close();
    }
  }

  test('with listenHttp2, wss:// on the same origin is an extended CONNECT on the page\'s HTTP/2 session', async () => {
    const s = await site(true);
    sites.push(s);
    const result = await load(s);
    expect(result).toEqual({ echoed: 'hello from chromium' });
    expect(s.pageVersions[0]).toBe('2.0');
    expect(s.h1Upgrades).toEqual([]);
    expect(s.h2Sockets).toHaveLength(1);
    const conn = s.h2Sockets[0];
    expect(conn.transport.kind).toBe('h2');
    expect(conn.attempt.headers[':protocol']).toBe('websocket');
    expect(conn.attempt.headers[':scheme']).toBe('https');
    expect(conn.attempt.headers[':path']).toBe('/ws');
    expect(conn.attempt.headers.origin).toBe(s.origin);
    // Chromium's close reply (1000) is echoed and the stream ends; no error on our side.
    const deadline = Date.now() + 5000;
    while (!conn.events.includes('close') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(conn.events).toContain('close-frame');
    expect(conn.events).toContain('close');
    expect(conn.events.filter((e) => e.startsWith('error'))).toEqual([]);
  }, 30000);

  test('without it (the setting off), the same page gets its socket over a separate HTTP/1.1 upgrade', async () => {
    const s = await site(false);
    sites.push(s);
    const result = await load(s);
    expect(result).toEqual({ echoed: 'hello from chromium' });
    expect(s.pageVersions[0]).toBe('2.0');
    expect(s.h2Sockets).toHaveLength(0);
    expect(s.h1Upgrades).toEqual(['1.1 /ws']);
  }, 30000);
});
