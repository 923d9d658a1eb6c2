// Handshake fuzz: the saved corpus (test/fixtures/fuzz-regressions/handshake-*.http) is
// replayed whole and in chunks, then a short seeded run. The long campaign is
// `ts-node --transpile-only scripts/fuzz-handshake.ts --seconds 60`.
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, fuzzHead, judgeResponse, rng, sendOne, startLive, stopLive, validHead, type Live } from '../../scripts/fuzz-handshake';

const corpus = fs.readdirSync(FIXTURES).filter((f) => f.startsWith('handshake-') && f.endsWith('.http'));
let live: Live;

beforeAll(async () => {
  live = await startLive();
});
afterAll(() => stopLive(live));
afterEach(() => {
  expect(live.errors).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

test('the judge rejects what is not an HTTP response (it can fail)', () => {
  expect(judgeResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nok'), true)).toBeNull();
  expect(judgeResponse(Buffer.alloc(0), true)).toBeNull();
  expect(judgeResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), false)).not.toBeNull();
  expect(judgeResponse(Buffer.from('garbage\r\n\r\n'), true)).not.toBeNull();
  expect(judgeResponse(Buffer.from('HTTP/1.1 400 Bad\r\nBad Header\r\n\r\n'), true)).not.toBeNull();
  expect(judgeResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort'), true)).not.toBeNull();
});

test('the corpus holds the hand-picked inputs', () => {
  for (const name of ['cve-2024-37890', 'proto-names', 'bare-lf', 'nul-in-value', 'obs-fold-key']) {
    expect(corpus).toContain(`handshake-${name}.http`);
  }
});

test.each(corpus)('%s', async (name) => {
  const bytes = fs.readFileSync(path.join(FIXTURES, name));
  const sidecar = path.join(FIXTURES, name.replace(/\.http$/, '.handshake.json'));
  const saved: { cuts?: number[] } = fs.existsSync(sidecar) ? JSON.parse(fs.readFileSync(sidecar, 'utf8')) : {};
  const n = bytes.length;
  for (const cuts of [[], saved.cuts ?? [], [Math.floor(n / 2)], Array.from({ length: Math.min(n, 64) }, (_, i) => i)]) {
    expect(await sendOne(live.port, bytes, cuts)).toBeNull();
  }
});

test('a short seeded run: 800 random and mutated heads, then normal service', async () => {
  const r = rng(20261202);
  for (let i = 0; i < 800; i += 16) {
    const batch = Array.from({ length: 16 }, () => fuzzHead(live.port, r));
    const problems = await Promise.all(batch.map((b) => sendOne(live.port, b, [Math.floor(r() * b.length)])));
    problems.forEach((p, k) => {
      if (p !== null) throw new Error(`${p} for ${JSON.stringify(batch[k].subarray(0, 300).toString('latin1'))}`);
    });
  }
  expect(await sendOne(live.port, Buffer.from(`${validHead(live.port, r).join('\r\n')}\r\n\r\n`), [])).toBeNull();
});
