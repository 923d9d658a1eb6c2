// Framing fuzz: damaged and random client streams, cut into random chunks, against the
// FrameParser and against a live server. The parser must never throw; it reports valid events
// and at most one final error with close code 1002, 1007 or 1009, then nothing. The live
// server must answer exactly what its parser decided. Saved failures are replayed here.
// The long campaign is `npm run fuzz` (scripts/fuzz.ts).
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { attachWebSocket, type WebSocket } from '../../src';
import {
  expectedServerFrames,
  fixtureOptions,
  frameSummary,
  fuzzInput,
  judge,
  mutatedStream,
  runParser,
  violation,
} from '../helpers/frame-fuzz';
import { RawClient } from '../helpers/raw-client';
import { once, startServer, type TestServer } from '../helpers/server';

const FIXTURES = path.join(__dirname, '../fixtures', 'fuzz-regressions');

describe('FrameParser under fuzz', () => {
  test('random and damaged streams, any chunking, with and without pausing', () => {
    fc.assert(
      fc.property(fuzzInput, (input) => {
        const problem = judge(input);
        if (problem) throw new Error(problem);
      }),
      { numRuns: 4000 },
    );
  });

  test('the fuzz rules catch a broken parser (they can fail)', () => {
    // A fake outcome per rule, so a weakened check would show here.
    const opts = { maxPayload: 4, allowCompression: false };
    const msg = (data: string, text = false) => ({ type: 'message' as const, text, compressed: false, data });
    const cases = [
      { events: [], errors: [], threw: new Error('boom') },
      { events: [{ type: 'error' as const, code: 1002 }, { type: 'ping' as const, data: '' }], errors: [], threw: null },
      { events: [{ type: 'error' as const, code: 1006 }], errors: [], threw: null },
      { events: [msg('0102030405')], errors: [], threw: null },
      { events: [msg('ff', true)], errors: [], threw: null },
      { events: [{ type: 'close' as const, code: 999, reason: '' }], errors: [], threw: null },
    ];
    for (const c of cases) expect(violation(c, opts)).not.toBeNull();
    expect(violation({ events: [msg('0102'), { type: 'close', code: 1000, reason: '' }], errors: [], threw: null }, opts)).toBeNull();
  });
});

// ---- live server --------------------------------------------------------------------------

let srv: TestServer;
const serverCloseCodes = new Map<number, Promise<number>>();
const reported: unknown[] = [];
const attached = new Set<number>();

function endpointFor(maxPayload: number): string {
  if (!attached.has(maxPayload)) {
    attached.add(maxPayload);
    attachWebSocket(
      srv.server,
      (ws: WebSocket, req) => {
        const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
        serverCloseCodes.set(req.socket.remotePort!, closed);
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      },
      { path: `/max-${maxPayload}`, maxPayload, heartbeat: false, onError: (err) => reported.push(err) },
    );
  }
  return `/max-${maxPayload}`;
}

beforeAll(async () => {
  srv = await startServer();
});
afterAll(() => srv.close());

/**
 * Sends the stream in the given chunks, then half-closes; resolves with every frame the
 * server wrote and the close code its socket reported.
 */
async function live(bytes: Buffer, cuts: readonly number[], maxPayload: number) {
  const client = await RawClient.open(srv.port, endpointFor(maxPayload));
  const port = client.socket.localPort!;
  try {
    const bounds = [0, ...cuts, bytes.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      if (client.closed) break;
      client.write(bytes.subarray(bounds[i], bounds[i + 1]));
      if (i % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
    }
    client.socket.end();
    await client.waitClosed();
    const code = await serverCloseCodes.get(port)!;
    serverCloseCodes.delete(port);
    return { frames: frameSummary(client.frames), code };
  } finally {
    client.destroy();
  }
}

/** What the live server must do for these bytes, from a parser with its options. */
function oracle(bytes: Buffer, maxPayload: number) {
  const { events } = runParser(bytes, [], { maxPayload, allowCompression: false }, false, false);
  const last = events[events.length - 1];
  const code = last?.type === 'error' || last?.type === 'close' ? last.code : 1006;
  return { frames: expectedServerFrames(events), code };
}

describe('a live server under fuzz', () => {
  test('answers damaged streams exactly as its parser decides, and stays up', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedStream, fc.array(fc.nat(), { maxLength: 8 }), async (bytes, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        expect(await live(bytes, cuts, 1000)).toEqual(oracle(bytes, 1000));
      }),
      { numRuns: 200 },
    );
    expect(reported).toEqual([]);
  });
});

// ---- regressions --------------------------------------------------------------------------

const expectedOutcomes: Record<string, { outcome: string; messages: number }> = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'),
);
const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.bin'));

describe('saved fuzz inputs', () => {
  test('the folder holds the hand-picked inputs', () => {
    for (const name of Object.keys(expectedOutcomes).filter((k) => k !== '//')) expect(fixtures).toContain(name);
  });

  test.each(fixtures)('%s', async (name) => {
    const bytes = fs.readFileSync(path.join(FIXTURES, name));
    const options = fixtureOptions(name);
    const n = bytes.length;
    // scripts/fuzz.ts writes the chunking that failed next to the input.
    const sidecar = path.join(FIXTURES, name.replace(/\.bin$/, '.json'));
    const saved: { cuts?: number[] } = fs.existsSync(sidecar) ? JSON.parse(fs.readFileSync(sidecar, 'utf8')) : {};
    const chunkings = [
      [],
      Array.from({ length: n }, (_, i) => i),
      [Math.floor(n / 2)],
      Array.from({ length: Math.floor(n / 3) }, (_, i) => 3 * i + 3),
      saved.cuts ?? [],
    ];
    for (const cuts of chunkings) {
      for (const pause of [false, true]) {
        expect(judge({ bytes, cuts: cuts.filter((c) => c < n), options, pause })).toBeNull();
      }
    }
    const known = expectedOutcomes[name];
    if (known) {
      const { events } = runParser(bytes, [], options, false, false);
      const last = events[events.length - 1];
      expect(`${last.type} ${'code' in last ? last.code : ''}`).toBe(known.outcome);
      expect(events.filter((e) => e.type === 'message')).toHaveLength(known.messages);
    }
    if (!options.allowCompression) {
      expect(await live(bytes, saved.cuts ?? [], options.maxPayload)).toEqual(oracle(bytes, options.maxPayload));
    }
  });
});
