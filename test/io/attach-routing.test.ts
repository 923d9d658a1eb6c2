// Routing of upgrade requests: exact paths, lists, Express patterns with params, query
// strings, Express's trailing-slash and case rules, several endpoints on one server, and
// sharing the server's upgrade event with another WebSocket library.
import express from 'express';
import request from 'supertest';
import WebSocketClient, { WebSocketServer } from 'ws';
import { attachWebSocket, type AttachOptions, type UpgradeRequest, type WebSocket } from '../../src';
import { delay, once, startServer, type TestServer } from '../helpers/server';
import { parseRawResponse, UpgradeClients } from '../helpers/upgrade-clients';

/** The handler used everywhere: tells the client what it saw. */
function report(name: string) {
  return (socket: WebSocket, req: UpgradeRequest) => {
    socket.send(JSON.stringify({ endpoint: name, url: req.url, params: req.params, query: { ...req.query } }));
  };
}

let t: TestServer;
let clients: UpgradeClients;

async function serve(app: express.Express, endpoints: [string, AttachOptions][]): Promise<void> {
  t = await startServer(app);
  clients = new UpgradeClients(() => t.port);
  for (const [name, options] of endpoints) attachWebSocket(t.server, report(name), { heartbeat: false, ...options });
}

afterEach(async () => {
  clients?.closeAll();
  await t?.close();
});

describe('paths, lists and patterns', () => {
  beforeEach(async () => {
    const app = express();
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    await serve(app, [
      ['exact', { path: '/ws' }],
      ['list', { path: ['/feed', '/feed/v2'] }],
      ['room', { path: '/rooms/:room' }],
      ['files', { path: '/files/*rest' }],
      ['two', { path: '/orgs/:org/users/:user' }],
    ]);
  });

  test('an exact path accepts that path only', async () => {
    expect((await clients.open('/ws')).first).toEqual({ endpoint: 'exact', url: '/ws', params: {}, query: {} });
    expect((await clients.refused('/wsx')).status).toBe(404);
    expect((await clients.refused('/ws/more')).status).toBe(404);
    expect((await clients.refused('/')).status).toBe(404);
  });

  test('a list accepts each of its paths', async () => {
    expect((await clients.open('/feed')).first.endpoint).toBe('list');
    expect((await clients.open('/feed/v2')).first.endpoint).toBe('list');
    expect((await clients.refused('/feed/v3')).status).toBe(404);
  });

  test('a pattern puts its params on req.params, decoded', async () => {
    expect((await clients.open('/rooms/lobby')).first).toEqual({
      endpoint: 'room',
      url: '/rooms/lobby',
      params: { room: 'lobby' },
      query: {},
    });
    expect((await clients.open('/rooms/caf%C3%A9%20au%20lait')).first.params).toEqual({ room: 'café au lait' });
    expect((await clients.open('/rooms/a%2Fb')).first.params).toEqual({ room: 'a/b' });
    expect((await clients.open('/orgs/acme/users/7')).first.params).toEqual({ org: 'acme', user: '7' });
    expect((await clients.refused('/rooms')).status).toBe(404);
    expect((await clients.refused('/rooms/a/b')).status).toBe(404);
  });

  test('a malformed percent-escape in a param is passed through, not a crash', async () => {
    expect((await clients.open('/rooms/%E0%A4%A')).first.params).toEqual({ room: '%E0%A4%A' });
  });

  test('a wildcard collects the segments, as Express 5 does', async () => {
    expect((await clients.open('/files/a/b/c.txt')).first.params).toEqual({ rest: ['a', 'b', 'c.txt'] });
  });

  test('the query string is parsed onto req.query and never breaks matching', async () => {
    const { first } = await clients.open('/ws?a=1&a=2&b=x');
    expect(first).toEqual({ endpoint: 'exact', url: '/ws?a=1&a=2&b=x', params: {}, query: { a: ['1', '2'], b: 'x' } });
    const room = await clients.open('/rooms/lobby?token=abc%20def&empty=');
    expect(room.first.params).toEqual({ room: 'lobby' });
    expect(room.first.query).toEqual({ token: 'abc def', empty: '' });
    expect((await clients.open('/ws?')).first.query).toEqual({});
    expect((await clients.open('/ws?%zz=%&x')).first.query).toEqual({ '%zz': '%', x: '' });
    expect((await clients.open('/feed/v2?/rooms/x')).first.endpoint).toBe('list');
  });

  test("trailing slash and case follow Express's defaults", async () => {
    expect((await clients.open('/ws/')).first.endpoint).toBe('exact');
    expect((await clients.open('/WS')).first.endpoint).toBe('exact');
    expect((await clients.open('/Rooms/Lobby/')).first.params).toEqual({ room: 'Lobby' });
    expect((await clients.refused('/ws//')).status).toBe(404);
  });

  test('an unclaimed path gets a complete 404 and the connection is closed', async () => {
    const raw = await clients.raw('/nowhere?x=1');
    const res = parseRawResponse(raw.received);
    expect(res.statusLine).toBe('HTTP/1.1 404 Not Found');
    expect(res.headers.connection).toBe('close');
    expect(res.body).toBe('No WebSocket endpoint at /nowhere\n');
    expect(res.rest.length).toBe(0);
  });

  test('plain HTTP requests are left to Express', async () => {
    await request(t.server).get('/health').expect(200, 'ok');
    await request(t.server).get('/ws').expect(404);
    await request(t.server).get('/rooms/lobby').expect(404);
  });
});

describe('caseSensitive and strict', () => {
  test('caseSensitive refuses another case; strict refuses a trailing slash', async () => {
    await serve(express(), [
      ['sensitive', { path: '/Exact', caseSensitive: true }],
      ['strict', { path: '/strict', strict: true }],
      ['strict-slash', { path: '/dir/', strict: true }],
    ]);
    expect((await clients.open('/Exact')).first.endpoint).toBe('sensitive');
    expect((await clients.open('/Exact/')).first.endpoint).toBe('sensitive');
    expect((await clients.refused('/exact')).status).toBe(404);
    expect((await clients.open('/strict')).first.endpoint).toBe('strict');
    expect((await clients.open('/STRICT')).first.endpoint).toBe('strict');
    expect((await clients.refused('/strict/')).status).toBe(404);
    expect((await clients.open('/dir/')).first.endpoint).toBe('strict-slash');
    expect((await clients.refused('/dir')).status).toBe(404);
  });
});

describe('matches exactly what Express matches', () => {
  const urls = [
    '/r/one',
    '/r/one/',
    '/R/One',
    '/r/one//',
    '/r/',
    '/r',
    '/r/a%20b',
    '/r/a%2Fb',
    '/r/one/two',
    '/r/one?x=1',
    '/r/one.json',
    '/r/%C3%A9',
  ];

  test.each([
    ['defaults', {}],
    ['caseSensitive', { caseSensitive: true }],
    ['strict', { strict: true }],
    ['both', { caseSensitive: true, strict: true }],
  ] as [string, { caseSensitive?: boolean; strict?: boolean }][])('%s', async (_name, routing) => {
    const app = express();
    app.set('case sensitive routing', routing.caseSensitive ?? false);
    app.set('strict routing', routing.strict ?? false);
    app.get('/r/:id', (req, res) => {
      res.json(req.params);
    });
    await serve(app, [['r', { path: '/r/:id', ...routing }]]);
    for (const url of urls) {
      const http = await request(t.server).get(url);
      if (http.status === 200) {
        expect({ url, params: (await clients.open(url)).first.params }).toEqual({ url, params: http.body });
      } else {
        expect({ url, status: http.status }).toEqual({ url, status: 404 });
        expect({ url, status: (await clients.refused(url)).status }).toEqual({ url, status: 404 });
      }
    }
  });
});

describe('several endpoints on one server', () => {
  test('each has its own path and its own middleware; the first match wins', async () => {
    const app = express();
    t = await startServer(app);
    clients = new UpgradeClients(() => t.port);
    const seen: string[] = [];
    attachWebSocket(t.server, report('public'), { path: '/public', heartbeat: false });
    attachWebSocket(t.server, report('private'), {
      path: '/private',
      heartbeat: false,
      use: (req, res, next) => (req.headers.authorization === 'Bearer good' ? next() : res.sendStatus(401)),
    });
    attachWebSocket(t.server, report('tagged'), {
      path: '/tagged/:tag',
      heartbeat: false,
      use: [
        (req, _res, next) => {
          seen.push(`tagged:${req.params.tag}`);
          next();
        },
      ],
    });
    attachWebSocket(t.server, report('shadowed'), { path: '/public', heartbeat: false });

    expect((await clients.open('/public')).first.endpoint).toBe('public');
    expect((await clients.refused('/private')).status).toBe(401);
    const ok = await clients.open('/private', undefined, { headers: { Authorization: 'Bearer good' } });
    expect(ok.first.endpoint).toBe('private');
    expect((await clients.open('/tagged/red')).first.params).toEqual({ tag: 'red' });
    expect(seen).toEqual(['tagged:red']);
    expect((await clients.refused('/other')).status).toBe(404);
  });
});

describe('another library on the same server', () => {
  // Sockets the other library saw but does not serve (a real app would answer them).
  const ignored: import('node:stream').Duplex[] = [];
  afterEach(() => {
    for (const socket of ignored.splice(0)) socket.destroy();
  });

  function addWsLibrary(server: TestServer['server']): WebSocketServer {
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws) => ws.send('from ws'));
    server.on('upgrade', (req, socket, head) => {
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      if (pathname === '/other') return wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      if (pathname !== '/mine' && pathname !== '/echo') {
        // A library that keeps a socket for later takes it (listens on it) in the same turn.
        socket.on('error', () => {});
        ignored.push(socket);
      }
    });
    return wss;
  }

  test.each(['before', 'after'])('registered %s wsgate: each serves its own paths', async (order) => {
    t = await startServer(express());
    clients = new UpgradeClients(() => t.port);
    let wss: WebSocketServer;
    if (order === 'before') wss = addWsLibrary(t.server);
    attachWebSocket(t.server, report('mine'), { path: '/mine', heartbeat: false });
    if (order === 'after') wss = addWsLibrary(t.server);

    expect((await clients.open('/mine')).first.endpoint).toBe('mine');
    expect((await clients.open('/other')).first).toBe('from ws');
    expect((await clients.open('/other?x=1')).first).toBe('from ws');

    // wsgate leaves a path another library took alone: it writes nothing, that library decides.
    const raw = await clients.rawConnect('/nobody');
    for (let i = 0; i < 50 && ignored.length === 0; i++) await delay(20);
    expect(ignored.length).toBe(1);
    await delay(100);
    expect(raw.received.length).toBe(0);
    expect(raw.closed).toBe(false);
    expect(ignored[0].destroyed).toBe(false);

    for (const ws of wss!.clients) ws.terminate();
    const closed = once(wss!, 'close');
    wss!.close();
    await closed;
  });

  test('a passive upgrade listener (a logger) does not leave unclaimed paths unanswered', async () => {
    t = await startServer(express());
    clients = new UpgradeClients(() => t.port);
    const logged: string[] = [];
    t.server.on('upgrade', (req) => logged.push(req.url ?? ''));
    attachWebSocket(t.server, report('mine'), { path: '/mine', heartbeat: false });
    expect((await clients.refused('/nobody')).status).toBe(404);
    expect((await clients.open('/mine')).first.endpoint).toBe('mine');
    expect(logged).toEqual(['/nobody', '/mine']);
  });

  test('a plain `ws` client still reaches wsgate when `ws` also listens', async () => {
    t = await startServer(express());
    clients = new UpgradeClients(() => t.port);
    const wss = addWsLibrary(t.server);
    attachWebSocket(t.server, (socket) => socket.on('message', (data) => socket.send(`echo ${data}`)), {
      path: '/echo',
      heartbeat: false,
    });
    const client = new WebSocketClient(t.url('/echo'));
    await once(client, 'open');
    client.send('hi');
    const [data] = await once<[Buffer]>(client, 'message');
    expect(data.toString()).toBe('echo hi');
    client.terminate();
    wss.close();
  });
});

describe('bad paths fail at startup', () => {
  test.each([['ws'], [['/ok', 'nope']], ['/rooms/:'], ['/files/*']])('%j throws', async (path) => {
    t = await startServer();
    clients = new UpgradeClients(() => t.port);
    expect(() => attachWebSocket(t.server, () => {}, { path: path as string })).toThrow(TypeError);
  });
});
