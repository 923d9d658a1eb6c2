// End-to-end: the demo page in a real browser (Debian's Chromium, driven by playwright-core),
// talking to the demo server over the browser's own WebSocket.
// Required in CI (CI is set); skipped with a message on machines without /usr/bin/chromium.
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { createDemo, type Demo } from '../../demo/app';
import { type Browser, describeChromium, launchChromium } from '../helpers/chromium';

const maybe = describeChromium('browser.test.ts');

const ONE_MIB = 1024 * 1024;

maybe('demo page in Chromium', () => {
  let demo: Demo;
  let context: BrowserContext;
  let page: Page;
  let browser: Browser;
  let origin: string;
  const serverCloses: Promise<[number, string]>[] = [];
  const serverExtensions: string[] = [];

  beforeAll(async () => {
    demo = createDemo({
      onConnection: (socket) => {
        serverExtensions.push(socket.extensions);
        serverCloses.push(new Promise((resolve) => socket.on('close', (code, reason) => resolve([code, reason]))));
      },
    });
    await new Promise<void>((resolve) => demo.server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(demo.server.address() as AddressInfo).port}`;

    browser = await launchChromium();
    context = browser.context;
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${origin}/`);
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  /**
   * Sends one message on the page's own socket and resolves with the next message that is not
   * a clock push. Binary comes back as base64 so it crosses into Node exactly.
   */
  function echo(data: { text: string } | { bytes: 'pattern'; length: number }): Promise<{ text?: string; base64?: string }> {
    return page.evaluate(async (msg) => {
      const socket = (globalThis as unknown as { demoSocket: WebSocket }).demoSocket;
      const toBase64 = (buffer: ArrayBuffer) => {
        const bytes = new Uint8Array(buffer);
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      };
      return new Promise<{ text?: string; base64?: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no echo within 15 s')), 15000);
        const onMessage = (event: MessageEvent) => {
          if (typeof event.data === 'string' && event.data.startsWith('{"type":"clock"')) return;
          clearTimeout(timer);
          socket.removeEventListener('message', onMessage);
          resolve(typeof event.data === 'string' ? { text: event.data } : { base64: toBase64(event.data) });
        };
        socket.addEventListener('message', onMessage);
        if ('text' in msg) return socket.send(msg.text);
        const bytes = new Uint8Array(msg.length);
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
        socket.send(bytes);
      });
    }, data);
  }

  function pattern(length: number): Buffer {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    return bytes;
  }

  test('the page connects over the same port and shows "connected"', async () => {
    await page.locator('#status').filter({ hasText: /^connected$/ }).waitFor({ timeout: 10000 });
    expect(await page.locator('#status').textContent()).toBe('connected');
    expect(demo.endpoint.clients.size).toBe(1);
    expect(await page.evaluate(() => (globalThis as unknown as { demoSocket: WebSocket }).demoSocket.url)).toBe(
      `${origin.replace('http:', 'ws:')}/ws`,
    );
  });

  test('permessage-deflate is negotiated', async () => {
    const extensions = await page.evaluate(() => (globalThis as unknown as { demoSocket: WebSocket }).demoSocket.extensions);
    expect(extensions).toMatch(/^permessage-deflate\b/);
    expect(serverExtensions[0]).toMatch(/^permessage-deflate\b/);
    expect(await page.locator('#ext').textContent()).toContain('permessage-deflate');
  });

  test('a message typed into the page comes back in its log', async () => {
    await page.fill('#message', 'typed in the browser');
    await page.click('#send');
    await page.locator('#log li', { hasText: '← typed in the browser' }).waitFor({ timeout: 10000 });
    expect(await page.locator('#log li').allTextContents()).toEqual(['← typed in the browser', '→ typed in the browser']);
  });

  test('text comes back exactly', async () => {
    expect(await echo({ text: 'hello from Chromium' })).toEqual({ text: 'hello from Chromium' });
    expect(await echo({ text: '' })).toEqual({ text: '' });
  });

  test('multi-byte UTF-8 comes back exactly', async () => {
    const text = 'emoji 😀🎉👩‍💻, CJK 漢字かなカナ한국어, accents déjà vu, math ∮∑ ';
    expect(Buffer.byteLength(text)).toBeGreaterThan(text.length);
    expect(await echo({ text })).toEqual({ text });
    // Large enough to be compressed both ways.
    const long = text.repeat(200);
    expect(await echo({ text: long })).toEqual({ text: long });
  });

  test('binary comes back exactly', async () => {
    const result = await echo({ bytes: 'pattern', length: 256 });
    expect(result.text).toBeUndefined();
    expect(Buffer.from(result.base64!, 'base64').equals(pattern(256))).toBe(true);
  });

  test('a 1 MiB binary message comes back exactly', async () => {
    const result = await echo({ bytes: 'pattern', length: ONE_MIB });
    const back = Buffer.from(result.base64!, 'base64');
    expect(back.length).toBe(ONE_MIB);
    expect(back.equals(pattern(ONE_MIB))).toBe(true);
  });

  test('a 1 MiB text message comes back exactly', async () => {
    let text = '';
    for (let i = 0; text.length < ONE_MIB; i++) text += `line ${i} of a long message\n`;
    text = text.slice(0, ONE_MIB);
    expect(Buffer.byteLength(text)).toBe(ONE_MIB);
    const before = demo.endpoint.stats();
    expect(await echo({ text })).toEqual({ text });
    // Compression is really used both ways: this text shrinks far below 1 MiB on the wire.
    const after = demo.endpoint.stats();
    expect(after.bytesIn - before.bytesIn).toBeLessThan(ONE_MIB / 4);
    expect(after.bytesOut - before.bytesOut).toBeLessThan(ONE_MIB / 4);
  });

  test('the server pushes the time without being asked', async () => {
    const pushes = await page.evaluate(() => {
      const socket = (globalThis as unknown as { demoSocket: WebSocket }).demoSocket;
      return new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const timer = setTimeout(() => reject(new Error(`only ${got.length} pushes in 10 s`)), 10000);
        socket.addEventListener('message', function onMessage(event: MessageEvent) {
          if (typeof event.data !== 'string' || !event.data.startsWith('{"type":"clock"')) return;
          got.push(event.data);
          if (got.length < 2) return;
          clearTimeout(timer);
          socket.removeEventListener('message', onMessage);
          resolve(got);
        });
      });
    });
    const [first, second] = pushes.map((p) => JSON.parse(p) as { type: string; now: string; clients: number });
    expect(first.type).toBe('clock');
    expect(second.type).toBe('clock');
    expect(Date.parse(second.now)).toBeGreaterThan(Date.parse(first.now));
    expect(second.clients).toBe(1);
    // The page shows it, too.
    expect(await page.locator('#clock').textContent()).toContain('1 connected');
  });

  test('closing from the browser with code 4000 reaches the server', async () => {
    expect(serverCloses).toHaveLength(1);
    const browserSide = await page.evaluate(() => {
      const socket = (globalThis as unknown as { demoSocket: WebSocket }).demoSocket;
      return new Promise<{ code: number; wasClean: boolean }>((resolve) => {
        socket.addEventListener('close', (event) => resolve({ code: event.code, wasClean: event.wasClean }));
        socket.close(4000, 'bye from Chromium ✓');
      });
    });
    expect(await serverCloses[0]).toEqual([4000, 'bye from Chromium ✓']);
    expect(browserSide).toEqual({ code: 4000, wasClean: true });
    await page.locator('#status').filter({ hasText: /^closed$/ }).waitFor({ timeout: 10000 });
    expect(demo.endpoint.clients.size).toBe(0);
  });
});
