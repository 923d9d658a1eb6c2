// The long framing fuzz campaign: `npm run fuzz [-- --seconds N] [-- --seed S]`.
// Part of the time fuzzes the FrameParser directly (fast-check, with shrinking); the rest
// sends damaged streams to a live server, which must answer exactly as its parser decides
// and stay up. Every failing input is saved to test/fixtures/fuzz-regressions/, where
// test/hostile-fuzz.test.ts replays it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import WS from 'ws';
import { attachWebSocket, type WebSocket } from '../src';
import {
  expectedServerFrames,
  type FuzzInput,
  fixtureName,
  frameSummary,
  fuzzInput,
  judge,
  mutatedStream,
  randomStream,
  runParser,
} from '../test/helpers/frame-fuzz';
import { RawClient } from '../test/helpers/raw-client';

const FIXTURES = path.join(__dirname, '..', 'test', 'fixtures', 'fuzz-regressions');
const LIVE_MAX_PAYLOAD = 1000;
const LIVE_CONCURRENCY = 16;
// A common bug would fail every run; a few shrunk examples are enough to work from.
const MAX_SAVED = 10;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const seconds = arg('seconds', 60);
let seed = arg('seed', Date.now() % 2 ** 31);
const saved: string[] = [];

function save(prefix: string, bytes: Buffer, options: FuzzInput['options'], detail: object): void {
  if (saved.length >= MAX_SAVED) return;
  const stem = `${prefix}-${createHash('sha1').update(bytes).digest('hex').slice(0, 12)}`;
  const name = fixtureName(stem, options);
  fs.writeFileSync(path.join(FIXTURES, name), bytes);
  fs.writeFileSync(path.join(FIXTURES, name.replace(/\.bin$/, '.json')), `${JSON.stringify(detail, null, 2)}\n`);
  saved.push(name);
  console.log(`  saved test/fixtures/fuzz-regressions/${name}`);
}

/** Parser fuzzing with shrinking, one fast-check run after another until time is up. */
function fuzzParser(ms: number): { runs: number; failures: number } {
  const end = Date.now() + ms;
  let runs = 0;
  let failures = 0;
  while (Date.now() < end && saved.length < MAX_SAVED) {
    const result = fc.check(
      fc.property(fuzzInput, (input) => judge(input) === null),
      { seed: seed++, numRuns: 1_000_000, interruptAfterTimeLimit: Math.max(100, Math.min(10_000, end - Date.now())) },
    );
    runs += result.numRuns;
    if (result.failed && result.counterexample) {
      failures++;
      const [input] = result.counterexample;
      const problem = judge(input);
      console.log(`parser FAILURE (seed ${result.seed}): ${problem}`);
      save('parser', input.bytes, input.options, { cuts: input.cuts, pause: input.pause, problem, seed: result.seed });
    }
  }
  return { runs, failures };
}

// ---- live -------------------------------------------------------------------------------

interface Live {
  port: number;
  closeCodes: Map<number, Promise<number>>;
  reported: unknown[];
  server: http.Server;
}

async function startLive(): Promise<Live> {
  const server = http.createServer((_req, res) => res.end('http ok'));
  const closeCodes = new Map<number, Promise<number>>();
  const reported: unknown[] = [];
  attachWebSocket(
    server,
    (ws: WebSocket, req) => {
      closeCodes.set(req.socket.remotePort!, new Promise((resolve) => ws.once('close', (code) => resolve(code))));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    },
    { maxPayload: LIVE_MAX_PAYLOAD, heartbeat: false, onError: (err) => reported.push(err) },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, closeCodes, reported, server };
}

/** One damaged stream over a real socket; returns a problem description or null. */
async function liveOne(live: Live, bytes: Buffer, cuts: number[], abort: boolean): Promise<string | null> {
  const client = await RawClient.open(live.port);
  const port = client.socket.localPort!;
  try {
    const bounds = [0, ...cuts, bytes.length];
    for (let i = 0; i + 1 < bounds.length && !client.closed; i++) {
      client.write(bytes.subarray(bounds[i], bounds[i + 1]));
      if (i % 3 === 2) await new Promise((resolve) => setImmediate(resolve));
    }
    if (abort) {
      // A peer that vanishes mid-stream: the server must just clean up.
      client.destroy();
      const code = await withTimeout(live.closeCodes.get(port)!, 5000);
      return code === undefined ? 'the server never closed an aborted connection' : null;
    }
    client.socket.end();
    await client.waitClosed(5000);
    const code = await withTimeout(live.closeCodes.get(port)!, 5000);
    const { events } = runParser(bytes, [], { maxPayload: LIVE_MAX_PAYLOAD, allowCompression: false }, false, false);
    const last = events[events.length - 1];
    const wantCode = last?.type === 'error' || last?.type === 'close' ? last.code : 1006;
    const got = JSON.stringify(frameSummary(client.frames));
    const want = JSON.stringify(expectedServerFrames(events));
    if (got !== want) return `server wrote ${got}, its parser implies ${want}`;
    if (code !== wantCode) return `server closed with ${code}, expected ${wantCode}`;
    return null;
  } catch (err) {
    return `live exchange failed: ${String(err)}`;
  } finally {
    client.destroy();
    live.closeCodes.delete(port);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** A normal client round trip: the server still serves. */
async function echoWorks(port: number): Promise<boolean> {
  const ws = new WS(`ws://127.0.0.1:${port}/`);
  try {
    const reply = await withTimeout(
      new Promise<string>((resolve, reject) => {
        ws.on('open', () => ws.send('ping?'));
        ws.on('message', (d) => resolve(d.toString()));
        ws.on('error', reject);
      }),
      5000,
    );
    return reply === 'ping?';
  } catch {
    return false;
  } finally {
    ws.terminate();
  }
}

async function fuzzLive(ms: number): Promise<{ runs: number; failures: number; aborted: number }> {
  const live = await startLive();
  const stream = fc.tuple(fc.oneof({ weight: 4, arbitrary: mutatedStream }, randomStream), fc.array(fc.nat(), { maxLength: 10 }), fc.nat(19));
  const end = Date.now() + ms;
  let runs = 0;
  let failures = 0;
  let aborted = 0;
  try {
    while (Date.now() < end && saved.length < MAX_SAVED) {
      const batch = fc.sample(stream, { numRuns: LIVE_CONCURRENCY * 4, seed: seed++ });
      for (let i = 0; i < batch.length; i += LIVE_CONCURRENCY) {
        await Promise.all(
          batch.slice(i, i + LIVE_CONCURRENCY).map(async ([bytes, rawCuts, dice]) => {
            const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
            const abort = dice === 0; // one in twenty connections is torn down mid-stream
            const problem = await liveOne(live, bytes, cuts, abort);
            runs++;
            if (abort) aborted++;
            if (problem) {
              failures++;
              console.log(`live FAILURE: ${problem}`);
              save('live', bytes, { maxPayload: LIVE_MAX_PAYLOAD, allowCompression: false }, { cuts, problem });
            }
          }),
        );
      }
      if (!(await echoWorks(live.port))) {
        failures++;
        console.log('live FAILURE: a normal client was not served');
        break;
      }
    }
    if (live.reported.length > 0) {
      failures++;
      console.log(`live FAILURE: the server reported ${live.reported.length} errors, first: ${String(live.reported[0])}`);
    }
  } finally {
    live.server.closeAllConnections();
    await new Promise((resolve) => live.server.close(resolve));
  }
  return { runs, failures, aborted };
}

async function main(): Promise<void> {
  fs.mkdirSync(FIXTURES, { recursive: true });
  const started = Date.now();
  console.log(`fuzzing for ${seconds} s, first seed ${seed}`);
  const parser = fuzzParser(seconds * 600);
  console.log(`parser: ${parser.runs} inputs, ${parser.failures} failures`);
  const live = await fuzzLive(Math.max(1000, seconds * 1000 - (Date.now() - started)));
  console.log(`live server: ${live.runs} connections (${live.aborted} aborted mid-stream), ${live.failures} failures`);
  const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s, rss ${rss} MiB, ${saved.length} inputs saved`);
  process.exitCode = parser.failures + live.failures > 0 ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
