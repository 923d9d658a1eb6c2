// Chromium and RFC 8441 through the real endpoint: a page served over HTTPS + HTTP/2 opens
// wss:// on its own origin. With attachWebSocket on the server (it advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), the socket arrives as an extended CONNECT stream on
// the page's own HTTP/2 session (socket.transportKind 'h2'); with `http2: false` on the
// endpoint, Chromium opens a separate HTTP/1.1 connection and sends a classic upgrade.
// Required in CI (CI is set); skipped with a message on machines without /usr/bin/chromium.
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { attachWebSocket, type Endpoint } from '../../src';
import { type Browser, describeChromium, launchChromium } from '../helpers/chromium';
import { testCert } from '../helpers/tls';

const maybe = describeChromium('http2-browser.test.ts');

const PAGE = `<!doctype html><meta charset="utf-8"><title>h2 ws</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket('wss://' + location.host + '/ws');
  ws.onopen = () => ws.send('hello from chromium');
  ws.onmessage = (e) => { resolve({ echoed: e.data }); ws.close(1000, 'done'); };
  ws.onerror = () => resolve({ error: true });
});
</script>`;

interface Arrival {
  transportKind: string;
  httpVersion: string;
  origin: string | undefined;
  url: string | undefined;
  closeCode?: number;
}

interface Site {
  server: http2.Http2SecureServer;
  endpoint: Endpoint;
  origin: string;
  pageVersions: string[];
  arrivals: Arrival[];
  close(): Promise<void>;
}

/** The real endpoint on an https + h2 server (allowHTTP1) that also serves the page. */
async function site(withH2: boolean): Promise<Site> {
  const pageVersions: string[] = [];
  const arrivals: Arrival[] = [];
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
  const endpoint = attachWebSocket(
    server,
    (socket, req) => {
      const arrival: Arrival = { transportKind: socket.transportKind, httpVersion: req.httpVersion, origin: req.headers.origin, url: req.url };
      arrivals.push(arrival);
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      socket.on('close', (code) => (arrival.closeCode = code));
    },
    { path: '/ws', http2: withH2, heartbeat: false },
  );
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    endpoint,
    origin,
    pageVersions,
    arrivals,
    close: async () => {
      await endpoint.close({ timeout: 500 });
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

maybe('Chromium over HTTP/2', () => {
  let context: BrowserContext;
  let browser: Browser;
  const sites: Site[] = [];

  beforeAll(async () => {
    browser = await launchChromium(['--ignore-certificate-errors']);
    context = browser.context;
  }, 60000);

  afterAll(async () => {
    await browser?.close();
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

  test('the real endpoint on https + h2: wss:// on the same origin arrives as an HTTP/2 stream (transportKind h2)', async () => {
    const s = await site(true);
    sites.push(s);
    const result = await load(s);
    expect(result).toEqual({ echoed: 'hello from chromium' });
    expect(s.pageVersions[0]).toBe('2.0');
    expect(s.arrivals).toHaveLength(1);
    expect(s.arrivals[0]).toMatchObject({ transportKind: 'h2', httpVersion: '2.0', origin: s.origin, url: '/ws' });
    // Chromium's close (1000) reaches the server; the socket closes cleanly.
    const deadline = Date.now() + 5000;
    while (s.arrivals[0].closeCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(s.arrivals[0].closeCode).toBe(1000);
    expect(s.endpoint.stats()).toMatchObject({ accepted: 1 });
  }, 30000);

  test('the same page with http2: false on the endpoint: the socket arrives over HTTP/1.1', async () => {
    const s = await site(false);
    sites.push(s);
    const result = await load(s);
    expect(result).toEqual({ echoed: 'hello from chromium' });
    expect(s.pageVersions[0]).toBe('2.0');
    expect(s.arrivals).toHaveLength(1);
    expect(s.arrivals[0]).toMatchObject({ transportKind: 'http/1.1', httpVersion: '1.1', url: '/ws' });
  }, 30000);
});
