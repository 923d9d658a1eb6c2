// The demo app: its HTTP routes (supertest) and its WebSocket endpoint (the `ws` client),
// all on one port.
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import WsClient from 'ws';
import { createDemo, type Demo } from '../../demo/app';
import type { WebSocket as ServerSocket } from '../../src';
import { once } from '../helpers/server';

let demo: Demo;
let port: number;
const clients: WsClient[] = [];

beforeEach(async () => {
  demo = createDemo();
  await new Promise<void>((resolve) => demo.server.listen(0, '127.0.0.1', resolve));
  port = (demo.server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await demo.close();
});

function connect(headers: Record<string, string> = {}): WsClient {
  const client = new WsClient(`ws://127.0.0.1:${port}/ws`, { headers, perMessageDeflate: true });
  client.on('error', () => {}); // a refused or terminated client is expected in some tests
  clients.push(client);
  return client;
}

/** Resolves with the next message that is not a clock push. */
function nextEcho(client: WsClient, ms = 5000): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo')), ms);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (!isBinary && data.toString().startsWith('{"type":"clock"')) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ data, isBinary });
    };
    client.on('message', onMessage);
  });
}

describe('demo HTTP routes', () => {
  test('GET / serves the page, which loads the WebSocket script', async () => {
    const res = await request(demo.app).get('/').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html; charset=utf-8$/i);
    expect(res.text).toContain('<title>wsgate demo</title>');
    expect(res.text).toContain('<script src="/client.js"></script>');
    expect(res.text).toContain('id="status"');
  });

  test('GET /client.js is the browser script that opens the WebSocket on the same host', async () => {
    const res = await request(demo.app).get('/client.js').expect(200);
    expect(res.headers['content-type']).toMatch(/^(application|text)\/javascript/);
    expect(res.text).toContain('new WebSocket(url)');
    expect(res.text).toContain("location.host + '/ws'");
  });

  test('GET /health is "ok"', async () => {
    const res = await request(demo.app).get('/health').expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.text).toBe('ok');
  });

  test('HTTP and WebSocket share the listening server', async () => {
    const res = await request(demo.server).get('/health').expect(200);
    expect(res.text).toBe('ok');
    const client = connect();
    await once(client, 'open');
    expect(demo.endpoint.clients.size).toBe(1);
  });
});

describe('demo WebSocket /ws', () => {
  test('negotiates permessage-deflate', async () => {
    const client = connect();
    await once(client, 'open');
    expect(client.extensions).toMatch(/^permessage-deflate\b/);
    const [server] = [...demo.endpoint.clients];
    expect(server.extensions).toMatch(/^permessage-deflate\b/);
  });

  test('echoes text and binary exactly', async () => {
    const client = connect();
    await once(client, 'open');

    const text = 'hello, wsgate — 👋 世界';
    let echo = nextEcho(client);
    client.send(text);
    let got = await echo;
    expect(got.isBinary).toBe(false);
    expect(got.data.toString()).toBe(text);

    // JSON that looks like a push comes back untouched too.
    const json = '{"type":"echo","n":1}';
    echo = nextEcho(client);
    client.send(json);
    expect((await echo).data.toString()).toBe(json);

    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f]);
    echo = nextEcho(client);
    client.send(bytes);
    got = await echo;
    expect(got.isBinary).toBe(true);
    expect(Buffer.compare(got.data, bytes)).toBe(0);

    // Above the compression threshold, so it goes through deflate both ways.
    const big = Buffer.alloc(200_000, 'wsgate demo ');
    echo = nextEcho(client);
    client.send(big, { binary: true });
    got = await echo;
    expect(got.isBinary).toBe(true);
    expect(got.data.equals(big)).toBe(true);
  });

  test('the server talks first: a clock push at once, then one every second', async () => {
    const pushes: { type: string; now: string; clients: number }[] = [];
    const client = connect();
    const waitFor = (count: number, ms: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${pushes.length} pushes`)), ms);
        const check = () => {
          if (pushes.length < count) return;
          clearTimeout(timer);
          client.off('message', check);
          resolve();
        };
        client.on('message', check);
      });
    client.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) pushes.push(JSON.parse(data.toString()));
    });
    // The client never sends anything: the first push comes with the connection.
    await waitFor(1, 1500);
    // The interval is 1 s; the bound is generous for a busy machine.
    await waitFor(2, 5000);
    for (const push of pushes) {
      expect(push.type).toBe('clock');
      expect(new Date(push.now).toISOString()).toBe(push.now);
      expect(push.clients).toBe(1);
    }
    expect(Date.parse(pushes[1].now)).toBeGreaterThan(Date.parse(pushes[0].now));
  });

  test('the clock stops when the last socket leaves', async () => {
    const client = connect();
    await once(client, 'message');
    expect(demo.endpoint.topics.subscriberCount('clock')).toBe(1);
    const [server] = [...demo.endpoint.clients];
    const closed = once<[number, string]>(server, 'close');
    client.close(1000, 'done');
    expect(await closed).toEqual([1000, 'done']);
    expect(demo.endpoint.topics.subscriberCount('clock')).toBe(0);
  });

  test.each([`http://127.0.0.1:PORT`, `http://localhost:PORT`])('a page from its own origin %s may connect', async (origin) => {
    const client = connect({ Origin: origin.replace('PORT', String(port)) });
    await once(client, 'open');
    expect(client.readyState).toBe(WsClient.OPEN);
  });

  test.each(['https://evil.example', 'http://127.0.0.1:1', 'null'])('an Origin from another site (%s) is refused with 403', async (origin) => {
    const client = connect({ Origin: origin });
    const [, res] = await once<[unknown, { statusCode: number }]>(client, 'unexpected-response');
    expect(res.statusCode).toBe(403);
    expect(demo.endpoint.stats().accepted).toBe(0);
    expect(demo.endpoint.clients.size).toBe(0);
    expect(demo.endpoint.stats().rejected[403]).toBe(1);
  });
});

describe('demo options', () => {
  test('onConnection sees each socket and its close code', async () => {
    await demo.close();
    let sawClose!: (close: [number, string]) => void;
    const seen = new Promise<[number, string]>((resolve) => (sawClose = resolve));
    demo = createDemo({
      onConnection: (socket: ServerSocket) => socket.on('close', (code, reason) => sawClose([code, reason])),
    });
    await new Promise<void>((resolve) => demo.server.listen(0, '127.0.0.1', resolve));
    port = (demo.server.address() as AddressInfo).port;
    const client = connect();
    await once(client, 'open');
    client.close(4001, 'bye');
    expect((await once<[number, Buffer]>(client, 'close'))[0]).toBe(4001);
    expect(await seen).toEqual([4001, 'bye']);
  });
});

describe('DEMO_ORIGINS', () => {
  const saved = process.env.DEMO_ORIGINS;
  afterEach(() => {
    if (saved === undefined) delete process.env.DEMO_ORIGINS;
    else process.env.DEMO_ORIGINS = saved;
  });

  test('adds origins to those of the demo itself, and no others', async () => {
    await demo.close();
    process.env.DEMO_ORIGINS = ' http://192.168.1.20:8080 , https://Demo.Example ';
    demo = createDemo();
    await new Promise<void>((resolve) => demo.server.listen(0, '127.0.0.1', resolve));
    port = (demo.server.address() as AddressInfo).port;
    for (const origin of ['http://192.168.1.20:8080', 'https://demo.example', `http://localhost:${port}`]) {
      const client = connect({ Origin: origin });
      await once(client, 'open');
      client.close();
    }
    const refused = connect({ Origin: 'http://192.168.1.21:8080' });
    const [, res] = await once<[unknown, { statusCode: number }]>(refused, 'unexpected-response');
    expect(res.statusCode).toBe(403);
  });
});
