// src/io/upgrade.ts handleAttempt, with a fake UpgradeAttempt and a real EndpointImpl: the
// request path (admission, handshake, guards, answer) without sockets.
import type { IncomingMessage } from 'node:http';
import type { ResponseHeaders } from '../../src/core/http-response';
import type { UpgradeAttempt } from '../../src/io/attempt';
import { EndpointImpl, type Handler } from '../../src/io/endpoint';
import { type AttachOptions, resolveSettings } from '../../src/io/settings';
import { handleAttempt } from '../../src/io/upgrade';
import type { Transport, TransportSink } from '../../src/transport/transport';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='; // RFC 6455 section 1.3

/** A transport that goes nowhere; destroy() closes it at once. */
class NullTransport implements Transport {
  readonly kind = 'http/1.1' as const;
  readonly remoteAddress = '127.0.0.1';
  writableLength = 0;
  writableHighWaterMark = 16384;
  needDrain = false;
  ended = false;
  written: Buffer[] = [];
  private sink: TransportSink | null = null;
  bind(sink: TransportSink): void {
    this.sink = sink;
  }
  write(chunk: Buffer): boolean {
    this.written.push(chunk);
    return true;
  }
  writeMany(chunks: readonly Buffer[]): boolean {
    this.written.push(...chunks);
    return true;
  }
  end(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.sink?.onClose();
  }
  pause(): void {}
  resume(): void {}
  queuedBelow(): number {
    return 0;
  }
}

class FakeAttempt implements UpgradeAttempt {
  readonly form = 'http/1.1' as const;
  readonly req: IncomingMessage;
  method = 'GET';
  httpVersion = '1.1';
  headers: Record<string, string>;
  url = '/ws';
  remoteAddress = '127.0.0.1';
  socket = null;
  gone = false;
  calls: string[] = [];
  refused: { status: number; headers: Record<string, string>; body: string } | null = null;
  accepted: ResponseHeaders | null = null;
  awaited: number | null = null;
  goneListener: (() => void) | null = null;
  /** What accept() returns: null (peer gone) unless a transport is given. */
  transport: Transport | null = null;

  constructor(headers: Record<string, string> = {}) {
    this.headers = {
      host: '127.0.0.1:8080',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': KEY,
      'sec-websocket-version': '13',
      ...headers,
    };
    this.req = { method: this.method, url: this.url, headers: this.headers, httpVersion: '1.1' } as unknown as IncomingMessage;
  }
  onGone(listener: () => void): void {
    this.goneListener = listener;
  }
  await(maxBytes: number): void {
    this.calls.push('await');
    this.awaited = maxBytes;
  }
  handedOver(): void {
    this.calls.push('handedOver');
  }
  destroy(): void {
    this.calls.push('destroy');
  }
  refuse(status: number, headers: Record<string, string>, body: string): void {
    this.calls.push('refuse');
    this.refused = { status, headers, body };
  }
  accept(headers: ResponseHeaders): { transport: Transport; head: Buffer } | null {
    this.calls.push('accept');
    this.accepted = headers;
    return this.transport ? { transport: this.transport, head: Buffer.alloc(0) } : null;
  }
}

let endpoints: EndpointImpl[] = [];
let errors: unknown[];

function endpoint(options: AttachOptions = {}, handler: Handler = () => {}): EndpointImpl {
  errors = [];
  const e = new EndpointImpl(handler, resolveSettings({ heartbeat: false, onError: (err) => errors.push(err), ...options }));
  endpoints.push(e);
  return e;
}

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

afterEach(async () => {
  for (const e of endpoints.splice(0)) {
    for (const s of e.clients) s.terminate();
    await e.close({ timeout: 100 });
  }
});

describe('admission', () => {
  test('a closing endpoint answers 503 and counts it', async () => {
    const e = endpoint();
    await e.close();
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['refuse']);
    expect(a.refused!.status).toBe(503);
    expect(a.refused!.body).toBe('Server is shutting down\n');
    expect(e.stats().rejected[503]).toBe(1);
  });

  test('maxConnections reached: 503 with Retry-After, counting pending requests', () => {
    const e = endpoint({ maxConnections: 2 });
    e.pending = 2; // two requests still in their guards
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['refuse']);
    expect(a.refused!.status).toBe(503);
    expect(a.refused!.headers['Retry-After']).toBe('5');
    expect(a.refused!.body).toBe('Too many connections\n');
    expect(e.stats().rejected[503]).toBe(1);
  });

  test('maxConnections 0 refuses everything', () => {
    const e = endpoint({ maxConnections: 0 });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.refused!.status).toBe(503);
  });

  test('under maxConnections the request goes through', () => {
    const e = endpoint({ maxConnections: 2 });
    e.pending = 1;
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['accept']);
  });
});

describe('the handshake decision', () => {
  test('a throwing protocols selector: 500, reported to onError with the request', () => {
    const boom = new Error('selector bug');
    const reports: { error: unknown; req?: IncomingMessage }[] = [];
    const e = new EndpointImpl(() => {}, resolveSettings({
      heartbeat: false,
      protocols: () => {
        throw boom;
      },
      onError: (error, ctx) => reports.push({ error, req: ctx.req }),
    }));
    endpoints.push(e);
    const a = new FakeAttempt({ 'sec-websocket-protocol': 'chat' });
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['refuse']);
    expect(a.refused!.status).toBe(500);
    expect(reports).toHaveLength(1);
    expect(reports[0].error).toBe(boom);
    expect(reports[0].req).toBe(a.req);
    expect(e.stats().rejected[500]).toBe(1);
  });

  test('the protocols selector gets the offer and the request', () => {
    const seen: [readonly string[], IncomingMessage][] = [];
    const e = endpoint({
      protocols: (offered, req) => {
        seen.push([offered, req]);
        return 'b';
      },
    });
    const a = new FakeAttempt({ 'sec-websocket-protocol': 'a, b' });
    handleAttempt(e, a, {}, {});
    expect(seen).toEqual([[['a', 'b'], a.req]]);
    expect(a.accepted!['Sec-WebSocket-Protocol']).toBe('b');
  });

  test.each([
    ['a missing key', { 'sec-websocket-key': '' }, 400],
    ['a bad version', { 'sec-websocket-version': '8' }, 426],
    ['no upgrade token', { upgrade: 'h2c' }, 400],
  ])('a bad request (%s) gets the handshake\'s status', (_name, headers, status) => {
    const e = endpoint();
    const a = new FakeAttempt(headers);
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['refuse']);
    expect(a.refused!.status).toBe(status);
    expect(a.refused!.body.endsWith('\n')).toBe(true);
    expect(e.stats().rejected[status]).toBe(1);
    expect(errors).toEqual([]);
  });

  test('a POST gets 405 with Allow: GET', () => {
    const e = endpoint();
    const a = new FakeAttempt();
    a.method = 'POST';
    handleAttempt(e, a, {}, {});
    expect(a.refused!.status).toBe(405);
    expect(a.refused!.headers.Allow).toBe('GET');
  });

  test('requireProtocol without an acceptable offer: 400', () => {
    const e = endpoint({ protocols: ['chat'], requireProtocol: true });
    const a = new FakeAttempt({ 'sec-websocket-protocol': 'other' });
    handleAttempt(e, a, {}, {});
    expect(a.refused!.status).toBe(400);
  });
});

describe('accept without guards', () => {
  test('accept() is called at once with the 101 headers; no await', () => {
    const e = endpoint();
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['accept']);
    expect(a.accepted).toEqual({ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Accept': ACCEPT });
    expect(e.pending).toBe(0);
  });

  test('params and query are set on the request as own properties', () => {
    const e = endpoint();
    const a = new FakeAttempt();
    handleAttempt(e, a, { room: '7' }, { q: 'x' });
    const req = a.req as IncomingMessage & { params: unknown; query: unknown };
    expect(Object.getOwnPropertyDescriptor(req, 'params')!.value).toEqual({ room: '7' });
    expect(req.query).toEqual({ q: 'x' });
  });

  test('params and query shadow getters a request prototype already has (as Express 5 defines query)', () => {
    const e = endpoint();
    const a = new FakeAttempt();
    const proto = {
      get query(): unknown {
        return { fromPrototype: true };
      },
      get params(): unknown {
        return { fromPrototype: true };
      },
    };
    Object.setPrototypeOf(a.req, proto);
    handleAttempt(e, a, { room: '7' }, { q: 'x' });
    const req = a.req as IncomingMessage & { params: unknown; query: unknown };
    expect(req.params).toEqual({ room: '7' });
    expect(req.query).toEqual({ q: 'x' });
    expect(Object.getOwnPropertyDescriptor(req, 'query')).toMatchObject({ writable: true, enumerable: true });
  });

  test('an accepted transport becomes a connection handed to the handler', async () => {
    const handled: { params: unknown }[] = [];
    const e = endpoint({}, (_socket, req) => void handled.push({ params: req.params }));
    const a = new FakeAttempt();
    a.transport = new NullTransport();
    handleAttempt(e, a, { id: '1' }, {});
    expect(handled).toEqual([{ params: { id: '1' } }]);
    expect(e.clients.size).toBe(1);
    expect(e.stats().accepted).toBe(1);
  });

  test('accept() returning null (peer gone) opens nothing', () => {
    let handled = 0;
    const e = endpoint({}, () => void handled++);
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(handled).toBe(0);
    expect(e.clients.size).toBe(0);
    expect(e.stats().accepted).toBe(0);
  });
});

describe('with verify', () => {
  test('verify false: await(maxEarlyBytes), then 401 via refuse; pending back to 0', async () => {
    const e = endpoint({ verify: () => false, maxPayload: 100 });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['await']);
    expect(a.awaited).toBe(114);
    expect(e.pending).toBe(1);
    await until(() => a.refused !== null, 5000, 'refuse');
    expect(a.calls).toEqual(['await', 'refuse']);
    expect(a.refused).toEqual({ status: 401, headers: {}, body: 'Unauthorized' });
    expect(e.pending).toBe(0);
    expect(e.stats().rejected[401]).toBe(1);
  });

  test('verify true: accept with the 101 headers after the guards', async () => {
    const e = endpoint({ verify: async () => true });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['await']);
    await until(() => a.calls.length > 1, 5000, 'answer');
    expect(a.calls).toEqual(['await', 'accept']);
    expect(a.accepted!['Sec-WebSocket-Accept']).toBe(ACCEPT);
    expect(e.pending).toBe(0);
  });

  test('verify throwing: 500, the error reported', async () => {
    const boom = new Error('verify bug');
    const e = endpoint({
      verify: () => {
        throw boom;
      },
    });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    await until(() => a.refused !== null, 5000, 'refuse');
    expect(a.refused!.status).toBe(500);
    expect(errors).toEqual([boom]);
  });

  test('the peer goes away during the guards: handedOver, no accept, no refuse', async () => {
    let resolveVerify!: (v: boolean) => void;
    const e = endpoint({ verify: () => new Promise<boolean>((r) => (resolveVerify = r)) });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    expect(a.calls).toEqual(['await']);
    a.gone = true;
    a.goneListener?.();
    resolveVerify(true);
    await until(() => a.calls.length > 1, 5000, 'an outcome');
    expect(a.calls).toEqual(['await', 'handedOver']);
    expect(a.accepted).toBeNull();
    expect(e.pending).toBe(0);
  });

  test('the endpoint closes during the guards: 503 instead of accept', async () => {
    let resolveVerify!: (v: boolean) => void;
    const e = endpoint({ verify: () => new Promise<boolean>((r) => (resolveVerify = r)) });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    await e.close();
    resolveVerify(true);
    await until(() => a.calls.length > 1, 5000, 'an outcome');
    expect(a.calls).toEqual(['await', 'refuse']);
    expect(a.refused!.status).toBe(503);
  });

  test('requests in their guards count toward maxConnections', async () => {
    const resolvers: ((v: boolean) => void)[] = [];
    const e = endpoint({ maxConnections: 1, verify: () => new Promise<boolean>((r) => resolvers.push(r)) });
    const first = new FakeAttempt();
    handleAttempt(e, first, {}, {});
    const second = new FakeAttempt();
    handleAttempt(e, second, {}, {});
    expect(second.refused!.status).toBe(503);
    resolvers[0](true);
    await until(() => first.calls.length > 1, 5000, 'first answer');
    expect(first.calls).toEqual(['await', 'accept']);
  });

  test('verify that took too long: 503 from the budget, reported', async () => {
    const e = endpoint({ verifyTimeout: 20, verify: () => new Promise<boolean>(() => {}) });
    const a = new FakeAttempt();
    handleAttempt(e, a, {}, {});
    await until(() => a.refused !== null, 5000, 'refuse');
    expect(a.refused!.status).toBe(503);
    expect(errors).toHaveLength(1);
    expect(e.pending).toBe(0);
  });
});
