// The handshake fuzz campaign: `ts-node --transpile-only scripts/fuzz-handshake.ts
// [--seconds N] [--seed S]`. Random and mutated HTTP/1.1 request heads (request line,
// header names and values, line endings, byte damage, prototype names, long lists), sent in
// random chunks to a live server. Rules: the process never crashes or reports an error;
// every answer is one well-formed HTTP/1.1 response (a 101, or a refusal that then closes),
// or a close without a word (Node's parser drops a few malformed requests that way); no
// connection hangs. Failing inputs are saved to test/fixtures/fuzz-regressions/ as
// handshake-<sha1>.http, which test/security/fuzz-handshake.test.ts replays.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { attachWebSocket, type Endpoint } from '../src';

export const FIXTURES = path.join(__dirname, '..', 'test', 'fixtures', 'fuzz-regressions');

/** A small seeded PRNG (mulberry32), so a seed replays a run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTO = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'];
const NAMES = [
  'Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions', 'Origin', 'Sec-WebSocket-Origin', 'Content-Length', 'Transfer-Encoding', 'Expect',
  'Cookie', 'X-Forwarded-For', 'X-Forwarded-Host', ...PROTO,
];
const VALUES = [
  'websocket', 'Upgrade', 'keep-alive, Upgrade', '13', '8', '', ' ', 'chat', 'chat, chat', 'permessage-deflate',
  'permessage-deflate; client_max_window_bits', 'permessage-deflate; server_max_window_bits=8',
  'permessage-deflate; client_max_window_bits="15"', 'x; y="\\"', 'http://evil.example', 'null', '0', '-1',
  'chunked', '100-continue', 'dGhlIHNhbXBsZSBub25jZQ==', '==', '\u00ff\u00fe', ...PROTO,
];

export function validHead(port: number, r: () => number): string[] {
  const lines = [
    `GET /rooms/${PROTO[Math.floor(r() * PROTO.length)]}?a=1 HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
  ];
  if (r() < 0.5) lines.push('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits');
  if (r() < 0.5) lines.push('Sec-WebSocket-Protocol: chat, superchat');
  if (r() < 0.3) lines.push(`Origin: http://127.0.0.1:${port}`);
  return lines;
}

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)];

/** One mutation of the head's lines. */
function mutateLines(lines: string[], r: () => number): void {
  const i = Math.floor(r() * lines.length);
  switch (Math.floor(r() * 12)) {
    case 0: lines.splice(i, 1); break;
    case 1: lines.splice(i, 0, lines[i] ?? ''); break;
    case 2: lines.push(`${pick(r, NAMES)}: ${pick(r, VALUES)}`); break;
    case 3: lines.splice(1 + Math.floor(r() * (lines.length - 1)), 0, `${pick(r, NAMES)}:${pick(r, VALUES)}`); break;
    case 4: lines[0] = `${pick(r, ['GET', 'POST', 'CONNECT', 'get', 'OPTIONS', 'PRI', 'G\u00e9T'])} ${pick(r, ['/', '*', '/rooms/x', 'http://a/rooms/b', '/%', '/rooms/%E0%A4%A', '//x', '/rooms/__proto__?__proto__[x]=1'])} ${pick(r, ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', 'HTTP/9.9', ''])}`; break;
    case 5: lines.push(`${pick(r, NAMES)}: ${pick(r, [' ,', ', ', '\t', 'a;', '"\\'])!.repeat(1 + Math.floor(r() * 2000))}`); break;
    case 6: lines.push(`${pick(r, NAMES)}: ${pick(r, VALUES)}`, `${pick(r, NAMES)}: ${pick(r, VALUES)}`); break;
    case 7: lines.splice(i, 1, ` ${lines[i] ?? ''}`); break; // obs-fold
    case 8: lines.splice(1, 0, ...Array.from({ length: 1 + Math.floor(r() * 2100) }, () => 'a:1')); break;
    case 9: lines.splice(i, 1, (lines[i] ?? '').toUpperCase()); break;
    case 10: lines.splice(i, 1, (lines[i] ?? '').replace(':', pick(r, [' :', '::', '', ': :', '\u0000:']))); break;
    default: lines.push(`${pick(r, PROTO)}: ${pick(r, PROTO)}`); break;
  }
}

/** One mutation of the bytes. */
function mutateBytes(bytes: Buffer, r: () => number): Buffer {
  const at = Math.floor(r() * (bytes.length + 1));
  switch (Math.floor(r() * 5)) {
    case 0: { const b = Buffer.from(bytes); if (b.length) b[Math.min(at, b.length - 1)] = Math.floor(r() * 256); return b; }
    case 1: return Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(r() * 256)]), bytes.subarray(at)]);
    case 2: return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + Math.floor(r() * 8))]);
    case 3: return Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(r, ['\r', '\n', '\r\n', '\0', '\r\n\r\n', ' ']), 'latin1'), bytes.subarray(at)]);
    default: return Buffer.from(bytes.toString('latin1').replace(/\r\n/g, () => (r() < 0.2 ? '\n' : '\r\n')), 'latin1');
  }
}

/** A fuzz input: a head built from the valid one with damage, or random bytes. */
export function fuzzHead(port: number, r: () => number): Buffer {
  if (r() < 0.05) return randomBytes(Math.floor(r() * 300));
  const lines = validHead(port, r);
  const n = Math.floor(r() * 4);
  for (let k = 0; k < n; k++) mutateLines(lines, r);
  let bytes: Buffer = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const m = r() < 0.4 ? 1 + Math.floor(r() * 3) : 0;
  for (let k = 0; k < m; k++) bytes = mutateBytes(bytes, r);
  return bytes;
}

export interface Live {
  server: http.Server;
  port: number;
  endpoint: Endpoint;
  errors: unknown[];
}

export async function startLive(): Promise<Live> {
  // Plain HTTP answers are framed by Content-Length and end the connection, so the judge
  // can read them without an HTTP client.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': '7', Connection: 'close' });
    res.end('http ok');
  });
  const errors: unknown[] = [];
  const endpoint = attachWebSocket(
    server,
    (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    },
    { path: ['/rooms/:room', '/'], perMessageDeflate: true, protocols: ['chat'], heartbeat: false, onError: (err) => errors.push(err) },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, endpoint, errors };
}

export async function stopLive(live: Live): Promise<void> {
  for (const s of live.endpoint.clients) s.terminate();
  live.server.closeAllConnections();
  await new Promise((resolve) => live.server.close(resolve));
}

/** Checks every response in `raw`: null when all is well, else the problem. */
export function judgeResponse(raw: Buffer, closed: boolean): string | null {
  if (!closed) return 'the connection neither answered nor closed';
  let at = 0;
  let answers = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end === -1) return `a response head without its end: ${JSON.stringify(raw.subarray(at, at + 120).toString('latin1'))}`;
    const lines = raw.subarray(at, end).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.1 (\d{3}) [\x20-\x7e]*$/.exec(lines[0]);
    if (!status) return `a malformed status line: ${JSON.stringify(lines[0])}`;
    let length = 0;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*)$/.exec(line);
      if (!m) return `a malformed header line: ${JSON.stringify(line)}`;
      if (m[1].toLowerCase() === 'content-length') length = Number(m[2]);
      if (m[1].toLowerCase() === 'transfer-encoding' && /chunked/i.test(m[2])) chunked = true;
    }
    if (chunked) {
      const last = raw.indexOf('\r\n0\r\n\r\n', end);
      const first = raw.subarray(end + 4, end + 9).toString('latin1') === '0\r\n\r\n';
      if (last === -1 && !first) return 'a chunked body without its last chunk';
      length = first ? 5 : last + 7 - (end + 4);
    }
    answers++;
    if (status[1] === '101') return answers === 1 ? null : 'a 101 after another response';
    at = end + 4 + length;
    if (at > raw.length) return 'a body shorter than its Content-Length';
  }
  return null;
}

/** Sends one input in random chunks, half-closes, and judges what comes back. */
export function sendOne(port: number, bytes: Buffer, cuts: number[], ms = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let raw = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(judgeResponse(raw, closed));
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('connect', () => {
      const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
      for (let i = 0; i + 1 < bounds.length; i++) socket.write(bytes.subarray(bounds[i], bounds[i + 1]));
      socket.end();
    });
    socket.on('data', (chunk) => {
      raw = Buffer.concat([raw, chunk]);
      if (raw.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101' && raw.includes('\r\n\r\n')) finish(true);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 60);
  const seed = arg('seed', Date.now() % 2 ** 31);
  const r = rng(seed);
  fs.mkdirSync(FIXTURES, { recursive: true });
  const live = await startLive();
  const started = Date.now();
  let runs = 0;
  let failures = 0;
  const statuses: Record<string, number> = {};
  console.log(`handshake fuzz for ${seconds} s, seed ${seed}`);
  try {
    while (Date.now() - started < seconds * 1000 && failures < 10) {
      const batch = Array.from({ length: 16 }, () => {
        const bytes = fuzzHead(live.port, r);
        const cuts = Array.from({ length: Math.floor(r() * 4) }, () => Math.floor(r() * bytes.length));
        return { bytes, cuts };
      });
      const results = await Promise.all(batch.map((b) => sendOne(live.port, b.bytes, b.cuts)));
      results.forEach((problem, i) => {
        runs++;
        if (problem) {
          failures++;
          const stem = `handshake-${createHash('sha1').update(batch[i].bytes).digest('hex').slice(0, 12)}`;
          fs.writeFileSync(path.join(FIXTURES, `${stem}.http`), batch[i].bytes);
          fs.writeFileSync(path.join(FIXTURES, `${stem}.handshake.json`), `${JSON.stringify({ cuts: batch[i].cuts, problem, seed }, null, 2)}\n`);
          console.log(`FAILURE: ${problem}; saved test/fixtures/fuzz-regressions/${stem}.http`);
        }
      });
      if (live.errors.length > 0) {
        failures++;
        console.log(`FAILURE: the server reported ${String(live.errors[0])}`);
        break;
      }
      // A normal handshake still works.
      const ok = await sendOne(live.port, Buffer.from(`${validHead(live.port, r).join('\r\n')}\r\n\r\n`), []);
      statuses.checks = (statuses.checks ?? 0) + 1;
      if (ok !== null) {
        failures++;
        console.log(`FAILURE: a valid handshake was not served: ${ok}`);
        break;
      }
    }
  } finally {
    await stopLive(live);
  }
  const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
  console.log(`${runs} request heads in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failures} failures, rss ${rss} MiB`);
  process.exitCode = failures > 0 ? 1 : 0;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
