// Liveness: the pure sweep on plain objects with a fake clock, then the endpoint's one
// timer against real clients (a raw client never answers pings; `ws` answers them).
import WsClient from 'ws';
import { attachWebSocket, type Endpoint, type WebSocket } from '../../src';
import { type LivenessSettings, mayJudge, type Sweepable, sweep, tickPeriod } from '../../src/io/liveness';
import { clientFrame, RawClient } from '../helpers/raw-client';
import { delay, once, startServer, type TestServer } from '../helpers/server';

const T = 1_700_000_000_000; // any non-zero start time

function fakeSocket(at = T) {
  const s = {
    lastSeen: at,
    lastMessage: at,
    pingSentAt: 0,
    readyState: 1,
    ping: jest.fn(() => true),
    close: jest.fn(),
    terminate: jest.fn(),
  };
  return s satisfies Sweepable;
}

/** What socket.ts does when any bytes arrive (onData). */
function receiveFrame(s: ReturnType<typeof fakeSocket>, now: number, isMessage = false) {
  s.lastSeen = now;
  s.pingSentAt = 0;
  if (isMessage) s.lastMessage = now;
}

describe('sweep (pure)', () => {
  const hb: LivenessSettings = { interval: 1000, timeout: 500, idleTimeout: 0 };

  test('pings a socket after `interval` of silence, not before, and only once', () => {
    const s = fakeSocket();
    sweep([s], T + 999, hb);
    expect(s.ping).not.toHaveBeenCalled();
    expect(s.pingSentAt).toBe(0);
    sweep([s], T + 1000, hb);
    expect(s.ping).toHaveBeenCalledTimes(1);
    expect(s.pingSentAt).toBe(T + 1000);
    sweep([s], T + 1200, hb);
    sweep([s], T + 1499, hb);
    expect(s.ping).toHaveBeenCalledTimes(1);
    expect(s.terminate).not.toHaveBeenCalled();
    expect(s.close).not.toHaveBeenCalled();
  });

  test('terminates a socket whose ping stays unanswered for `timeout`', () => {
    const s = fakeSocket();
    sweep([s], T + 1000, hb);
    sweep([s], T + 1499, hb);
    expect(s.terminate).not.toHaveBeenCalled();
    sweep([s], T + 1500, hb);
    expect(s.terminate).toHaveBeenCalledTimes(1);
    expect(s.close).not.toHaveBeenCalled();
  });

  test('any received frame counts as an answer and restarts the interval', () => {
    const s = fakeSocket();
    sweep([s], T + 1000, hb); // ping
    receiveFrame(s, T + 1400); // e.g. a pong, a ping or a message
    sweep([s], T + 1500, hb);
    sweep([s], T + 2399, hb);
    expect(s.terminate).not.toHaveBeenCalled();
    expect(s.ping).toHaveBeenCalledTimes(1);
    sweep([s], T + 2400, hb); // interval after the last frame
    expect(s.ping).toHaveBeenCalledTimes(2);
    expect(s.pingSentAt).toBe(T + 2400);
  });

  test('a socket that keeps talking is never pinged', () => {
    const s = fakeSocket();
    for (let t = T + 100; t <= T + 10_000; t += 100) {
      receiveFrame(s, t, true);
      sweep([s], t, hb);
    }
    expect(s.ping).not.toHaveBeenCalled();
    expect(s.terminate).not.toHaveBeenCalled();
  });

  test('skips sockets that are not open', () => {
    const closing = { ...fakeSocket(), readyState: 2 };
    const pinged = { ...fakeSocket(), readyState: 1, pingSentAt: T };
    const closed = { ...fakeSocket(), readyState: 3, pingSentAt: T };
    sweep([closing, closed], T + 100_000, { ...hb, idleTimeout: 10 });
    for (const s of [closing, closed]) {
      expect(s.ping).not.toHaveBeenCalled();
      expect(s.terminate).not.toHaveBeenCalled();
      expect(s.close).not.toHaveBeenCalled();
    }
    sweep([pinged], T + 100_000, hb);
    expect(pinged.terminate).toHaveBeenCalledTimes(1);
  });

  test('sweeps every socket independently', () => {
    const quiet = fakeSocket();
    const answered = fakeSocket();
    const talking = fakeSocket();
    sweep([quiet, answered, talking], T + 1000, hb);
    expect(quiet.ping).toHaveBeenCalledTimes(1);
    expect(answered.ping).toHaveBeenCalledTimes(1);
    receiveFrame(answered, T + 1100);
    receiveFrame(talking, T + 1100, true);
    // `talking` was pinged at T+1000 too, then answered with a message.
    sweep([quiet, answered, talking], T + 1500, hb);
    expect(quiet.terminate).toHaveBeenCalledTimes(1);
    expect(answered.terminate).not.toHaveBeenCalled();
    expect(talking.terminate).not.toHaveBeenCalled();
  });

  test("idle timeout closes with 1000 'idle timeout' after no application message", () => {
    const settings: LivenessSettings = { interval: 1000, timeout: 5000, idleTimeout: 3000 };
    const s = fakeSocket();
    // Pings and pongs keep the connection alive but are not application messages.
    for (let t = T + 500; t < T + 3000; t += 500) {
      sweep([s], t, settings);
      receiveFrame(s, t);
    }
    expect(s.close).not.toHaveBeenCalled();
    sweep([s], T + 3000, settings);
    expect(s.close).toHaveBeenCalledTimes(1);
    expect(s.close).toHaveBeenCalledWith(1000, 'idle timeout');
    expect(s.terminate).not.toHaveBeenCalled();
  });

  test('a message resets the idle timeout', () => {
    const settings: LivenessSettings = { interval: 0, timeout: 0, idleTimeout: 3000 };
    const s = fakeSocket();
    receiveFrame(s, T + 2000, true);
    sweep([s], T + 4999, settings);
    expect(s.close).not.toHaveBeenCalled();
    sweep([s], T + 5000, settings);
    expect(s.close).toHaveBeenCalledWith(1000, 'idle timeout');
  });

  test('interval 0 disables pings; idleTimeout 0 disables idle closing', () => {
    const s = fakeSocket();
    sweep([s], T + 1e9, { interval: 0, timeout: 0, idleTimeout: 0 });
    expect(s.ping).not.toHaveBeenCalled();
    expect(s.terminate).not.toHaveBeenCalled();
    expect(s.close).not.toHaveBeenCalled();
  });
});

describe('a late tick (pure)', () => {
  const hb: LivenessSettings = { interval: 1000, timeout: 500, idleTimeout: 2000 };

  test('a sweep that may not judge still pings, but neither terminates nor closes', () => {
    const pinged = { ...fakeSocket(), pingSentAt: T };
    const idle = fakeSocket();
    sweep([pinged, idle], T + 5000, hb, false);
    expect(pinged.terminate).not.toHaveBeenCalled();
    expect(pinged.pingSentAt).toBe(T); // the verdict is only put off
    expect(idle.ping).toHaveBeenCalledTimes(1);
    expect(idle.close).not.toHaveBeenCalled();
    // The next tick, after the loop read what arrived meanwhile, judges as usual.
    sweep([pinged, idle], T + 5100, hb);
    expect(pinged.terminate).toHaveBeenCalledTimes(1);
    expect(idle.close).toHaveBeenCalledWith(1000, 'idle timeout');
  });

  test('a pong read between the late tick and the next one saves the socket', () => {
    const s = fakeSocket();
    sweep([s], T + 1000, hb); // ping
    sweep([s], T + 3000, hb, false); // the loop stalled; the pong is waiting to be read
    receiveFrame(s, T + 3000);
    sweep([s], T + 3100, hb);
    expect(s.terminate).not.toHaveBeenCalled();
  });

  test.each([
    [T + 250, false, true], // on time
    [T + 500, false, true], // two periods: still on time
    [T + 501, false, false], // later: the loop stalled, put the verdicts off
    [T + 5000, true, true], // late again right after putting them off: judge anyway
  ])('period 250, previous tick at T, this one at %d, deferred before: %s -> judge %s', (now, deferred, expected) => {
    expect(mayJudge(T, now, 250, deferred)).toBe(expected);
  });
});

describe('tickPeriod (pure)', () => {
  test.each([
    [{ interval: 30000, timeout: 10000, idleTimeout: 0 }, 1000], // capped at 1 s
    [{ interval: 1000, timeout: 500, idleTimeout: 0 }, 125], // a quarter of the shortest
    [{ interval: 100, timeout: 100, idleTimeout: 0 }, 25],
    [{ interval: 0, timeout: 0, idleTimeout: 400 }, 100],
    [{ interval: 30000, timeout: 10000, idleTimeout: 2000 }, 500],
    [{ interval: 20, timeout: 8, idleTimeout: 0 }, 10], // at least 10 ms
    [{ interval: 0, timeout: 0, idleTimeout: 0 }, 0], // nothing to do: no timer
    [{ interval: 0, timeout: 10000, idleTimeout: 0 }, 0], // no pings, so no ping timeout
    [{ interval: 0, timeout: 40, idleTimeout: 4000 }, 1000],
  ])('%j -> %d ms', (settings, expected) => {
    expect(tickPeriod(settings)).toBe(expected);
  });
});

// ---- integration -------------------------------------------------------------------------

describe('endpoint heartbeat', () => {
  let srv: TestServer;
  let endpoint: Endpoint | null = null;
  const raws: RawClient[] = [];
  const clients: WsClient[] = [];

  beforeEach(async () => {
    srv = await startServer();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    for (const r of raws.splice(0)) r.destroy();
    for (const c of clients.splice(0)) c.terminate();
    if (endpoint) await endpoint.close({ timeout: 100 });
    endpoint = null;
    await srv.close();
  });

  /** Attaches an endpoint; resolves each server-side socket as it opens. */
  function serve(options: Parameters<typeof attachWebSocket>[2]) {
    const opened: WebSocket[] = [];
    const waiters: (() => void)[] = [];
    endpoint = attachWebSocket(
      srv.server,
      (socket) => {
        opened.push(socket);
        for (const w of waiters.splice(0)) w();
      },
      options,
    );
    const nth = async (n: number): Promise<WebSocket> => {
      for (let i = 0; i < 200 && opened.length <= n; i++) await new Promise<void>((r) => waiters.push(r));
      return opened[n];
    };
    return { opened, nth };
  }

  async function raw(): Promise<RawClient> {
    const r = await RawClient.open(srv.port);
    raws.push(r);
    return r;
  }

  async function wsClient(): Promise<WsClient> {
    const c = new WsClient(srv.url());
    clients.push(c);
    await once(c, 'open');
    return c;
  }

  test('detects half-open TCP connections: a peer that stops answering pings is terminated (1006)', async () => {
    const { nth } = serve({ heartbeat: { interval: 100, timeout: 100 } });
    const started = Date.now();
    const client = await raw(); // never answers pings: like a peer that vanished
    const socket = await nth(0);
    const [code, reason] = await once<[number, string]>(socket, 'close', 3000);
    const elapsed = Date.now() - started;
    expect(code).toBe(1006);
    expect(reason).toBe('');
    // It was pinged first, and not dropped before interval + timeout (less one coarse tick).
    expect(client.frames.map((f) => f.opcode)).toEqual([0x9]);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    await client.waitClosed();
    expect(client.closeFrame).toBeUndefined(); // terminated: no close handshake
    expect(endpoint!.clients.size).toBe(0);
  });

  test('a client that answers pings (ws auto-pongs) stays connected over many intervals', async () => {
    const { nth } = serve({ heartbeat: { interval: 100, timeout: 100 } });
    const client = await wsClient();
    let pingsSeen = 0;
    client.on('ping', () => pingsSeen++);
    const socket = await nth(0);
    let pongs = 0;
    socket.on('pong', () => pongs++);
    await delay(800);
    expect(socket.readyState).toBe(1);
    expect(client.readyState).toBe(WsClient.OPEN);
    expect(pingsSeen).toBeGreaterThanOrEqual(3);
    expect(pongs).toBeGreaterThanOrEqual(3);
    expect(endpoint!.clients.size).toBe(1);
  });

  test('a stalled event loop is not the peer\'s fault: a pong that arrived during the stall counts', async () => {
    const { nth } = serve({ heartbeat: { interval: 100, timeout: 100 } });
    const client = await wsClient();
    const socket = await nth(0);
    let pongs = 0;
    socket.on('pong', () => pongs++);
    // ws has already written its pong when it emits 'ping'; block the loop (as a long
    // synchronous job in the app would) well past the timeout before the server can read it.
    const stalled = new Promise<void>((resolve) =>
      client.once('ping', () => {
        const until = Date.now() + 600;
        while (Date.now() < until);
        resolve();
      }),
    );
    await stalled;
    await delay(300);
    expect(pongs).toBeGreaterThanOrEqual(1);
    expect(socket.readyState).toBe(1);
    expect(client.readyState).toBe(WsClient.OPEN);
  });

  test('any frame counts as an answer: a client that answers pings with its own pings stays', async () => {
    const { nth } = serve({ heartbeat: { interval: 100, timeout: 100 } });
    const client = await raw();
    const socket = await nth(0);
    let answered = 0;
    const answer = () => {
      // Answer every server ping with a ping of our own (not a pong).
      const pings = client.frames.filter((f) => f.opcode === 0x9).length;
      while (answered < pings) {
        answered++;
        client.write(clientFrame({ opcode: 0x9, payload: 'alive' }));
      }
    };
    client.socket.on('data', answer);
    await delay(800);
    expect(socket.readyState).toBe(1);
    expect(answered).toBeGreaterThanOrEqual(3);
    // Our pings got pongs back.
    expect(client.frames.filter((f) => f.opcode === 0xa).length).toBe(answered);
  });

  test('heartbeat: false sends no pings', async () => {
    const { nth } = serve({ heartbeat: false });
    const client = await raw();
    const socket = await nth(0);
    await delay(300);
    expect(client.frames).toEqual([]);
    expect(socket.readyState).toBe(1);
  });

  test('on by default (30 s / 10 s: a 1 s tick); interval 0 or false means no timer at all', async () => {
    const intervals = jest.spyOn(global, 'setInterval');
    serve({});
    await raw();
    expect(intervals).toHaveBeenCalledTimes(1);
    expect(intervals.mock.calls[0][1]).toBe(1000);
    for (const heartbeat of [false, { interval: 0, timeout: 10 }] as const) {
      intervals.mockClear();
      const other = await startServer();
      const ep = attachWebSocket(other.server, () => {}, { heartbeat });
      const r = await RawClient.open(other.port);
      expect(ep.clients.size).toBe(1);
      expect(intervals).not.toHaveBeenCalled();
      r.destroy();
      await ep.close({ timeout: 100 });
      await other.close();
    }
  });

  test('bad liveness settings are refused', () => {
    expect(() => attachWebSocket(srv.server, () => {}, { heartbeat: { interval: -1 } })).toThrow(RangeError);
    expect(() => attachWebSocket(srv.server, () => {}, { heartbeat: { timeout: Number.NaN } })).toThrow(RangeError);
    expect(() => attachWebSocket(srv.server, () => {}, { idleTimeout: -5 })).toThrow(RangeError);
  });

  test('one timer per endpoint, however many sockets; it is unref()d', async () => {
    const intervals = jest.spyOn(global, 'setInterval');
    const { opened } = serve({ heartbeat: { interval: 10_000, timeout: 10_000 } });
    const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await raw();
    expect(intervals).toHaveBeenCalledTimes(1);
    const withOne = refTimers();
    for (let i = 0; i < 199; i++) await raw();
    expect(opened.length).toBe(200);
    expect(endpoint!.clients.size).toBe(200);
    expect(intervals).toHaveBeenCalledTimes(1);
    // Unref'd timers are not listed: 199 more sockets add no timer that holds the event loop.
    // (A little slack: unrelated short-lived timers come and go.)
    expect(refTimers()).toBeLessThan(withOne + 5);
  });

  test('the timer stops when the last client leaves and starts again for the next one', async () => {
    const intervals = jest.spyOn(global, 'setInterval');
    const clears = jest.spyOn(global, 'clearInterval');
    const { nth } = serve({ heartbeat: { interval: 100, timeout: 100 } });
    const a = await raw();
    const b = await raw();
    const [sa, sb] = [await nth(0), await nth(1)];
    expect(intervals).toHaveBeenCalledTimes(1);
    a.destroy();
    await once(sa, 'close');
    expect(clears).not.toHaveBeenCalled();
    b.destroy();
    await once(sb, 'close');
    expect(clears).toHaveBeenCalledTimes(1);
    expect(clears.mock.calls[0][0]).toBe(intervals.mock.results[0].value);
    // A new client restarts it, and the heartbeat works again.
    const c = await raw();
    const sc = await nth(2);
    expect(intervals).toHaveBeenCalledTimes(2);
    const [code] = await once<[number]>(sc, 'close', 3000);
    expect(code).toBe(1006);
    expect(c.frames.map((f) => f.opcode)).toEqual([0x9]);
  });

  test('the first ping waits a full interval after the connection opens', async () => {
    // The coarse clock must be current when the first socket reads it (not 0 or stale).
    const { nth } = serve({ heartbeat: { interval: 1000, timeout: 1000 } });
    const client = await raw();
    const socket = await nth(0);
    await delay(500); // two ticks of 250 ms
    expect(client.frames).toEqual([]);
    expect(socket.readyState).toBe(1);
  });

  describe('idleTimeout', () => {
    test("closes a connection with no application messages with 1000 'idle timeout'", async () => {
      const { nth } = serve({ heartbeat: false, idleTimeout: 400 });
      const started = Date.now();
      const client = await raw();
      const socket = await nth(0);
      await delay(200);
      expect(socket.readyState).toBe(1); // not at the first tick (clock initialised)
      await client.waitFor(() => client.closeFrame !== undefined, 3000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(client.closeFrame).toEqual({ code: 1000, reason: 'idle timeout' });
      client.send({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) });
      const [code, reason] = await once<[number, string]>(socket, 'close');
      expect([code, reason]).toEqual([1000, '']);
    });

    test('messages keep a connection open; pings do not', async () => {
      const { nth } = serve({ heartbeat: { interval: 50, timeout: 1000 }, idleTimeout: 400 });
      const talker = await raw();
      const pinger = await raw();
      const [st, sp] = [await nth(0), await nth(1)];
      const stop = setInterval(() => {
        talker.send({ opcode: 0x1, payload: 'hi' });
        pinger.send({ opcode: 0x9 });
      }, 50);
      try {
        await pinger.waitFor(() => pinger.closeFrame !== undefined, 3000);
        expect(pinger.closeFrame).toEqual({ code: 1000, reason: 'idle timeout' });
        expect(sp.readyState).toBe(2);
        expect(st.readyState).toBe(1);
        expect(talker.closeFrame).toBeUndefined();
      } finally {
        clearInterval(stop);
      }
    });

    test('a client arriving after the timer stopped is not closed at once (stale clock)', async () => {
      const { nth } = serve({ heartbeat: false, idleTimeout: 300 });
      const first = await raw();
      const s0 = await nth(0);
      first.destroy();
      await once(s0, 'close');
      await delay(400); // the timer is stopped; its clock is now older than idleTimeout
      await raw();
      const s1 = await nth(1);
      await delay(150);
      expect(s1.readyState).toBe(1);
    });
  });
});
