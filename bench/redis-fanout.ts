// Issue 13's scenario: topics across instances on Redis. `npm run bench:redis`.
//
//   redis   2 wsgate instances (child processes, attachWebSocket + redisTopics), one
//           redis-server of its own; SUBSCRIBERS sockets split evenly across the two;
//           instance 0 publishes, so half the deliveries are local, half go through Redis.
//   local   1 instance with the default LocalTopics, the same SUBSCRIBERS sockets.
//
// All sockets subscribe to one topic. The publishing instance publishes a 64-byte binary
// message at a steady rate (RATES, one phase each, SECONDS long, after a short warm-up);
// each message carries its publish time (process.hrtime, the machine's monotonic clock, the
// same in every process) and the load process (raw WebSocket over net, one process for all
// sockets) takes publish-to-delivery latency from it. Bounded: every phase has a fixed count
// and a deadline; whatever has not arrived by then counts as missing. Every child process is
// stopped by PID. Results: a table, and JSON in bench/results/redis-fanout-node<major>.json.
//
// Env: SUBSCRIBERS (1000), RATES (publishes/s, comma-separated; "25,100"), SECONDS (5). A
// publisher that cannot keep its rate stops at twice the phase's length: `published` says
// how many it managed, and the row's rate is then not what was asked (see publishSeconds).
// This file is all three roles: the orchestrator (no argument), `server`, `load`.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { attachWebSocket } from 'wsgate';
import { acceptKey } from './common';
import { startBenchRedis } from './redis-server';

// The built `wsgate/redis`, by self-reference like `wsgate`. bench/tsconfig.json maps only
// `wsgate` and `wsgate/protocol` to dist types, so the part used here is typed locally.
type EndpointTopics = NonNullable<NonNullable<Parameters<typeof attachWebSocket>[2]>['topics']>;
interface BenchRedisTopics extends EndpointTopics {
  settled(): Promise<void>;
  stats(): Readonly<Record<string, number>>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { redisTopics } = require('wsgate/redis') as {
  redisTopics(options: { url: string; onError?: (err: Error) => void }): Promise<BenchRedisTopics>;
};

const TOPIC = 'bench';
const SIZE = 64;
/** Payload layout: publish time in ns (u64), phase (u32), sequence (u32), filler. */
const TS_AT = 0;
const PHASE_AT = 8;
const SEQ_AT = 12;

type Msg =
  | { type: 'ready'; port: number }
  | { type: 'settled'; subscribers: number }
  | { type: 'published'; count: number; seconds: number }
  | { type: 'connected'; count: number }
  | { type: 'result'; result: LoadResult }
  | { type: 'stats'; topics: Record<string, number> | null };

type Cmd =
  | { type: 'settle' }
  | { type: 'publish'; phase: number; rate: number; count: number; deadlineMs: number }
  | { type: 'connect'; targets: { port: number; count: number; remote: boolean }[] }
  | { type: 'phase'; phase: number; expected: number }
  | { type: 'finish'; graceMs: number; expected: number }
  | { type: 'stats' };

interface LoadResult {
  received: number;
  /** ms from the first publish to the last delivery of the phase. */
  span: number;
  p50: number;
  p99: number;
  max: number;
  /** Latency of deliveries to sockets of the non-publishing instance (through Redis). */
  remoteP50: number | null;
  remoteP99: number | null;
  localP50: number | null;
  localP99: number | null;
  errors: number;
}

const now = (): bigint => process.hrtime.bigint();
const send = (m: Msg) => process.send!(m);

// ---- server role ------------------------------------------------------------------------

async function server(): Promise<void> {
  const url = process.env.REDIS_URL;
  const topics = url ? await redisTopics({ url, onError: () => {} }) : undefined;
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  const endpoint = attachWebSocket(httpServer, (socket) => socket.subscribe(TOPIC), {
    path: '/ws',
    ...(topics ? { topics } : {}),
  });
  process.on('message', async (cmd: Cmd) => {
    if (cmd.type === 'settle') {
      await topics?.settled();
      send({ type: 'settled', subscribers: topics ? topics.subscriberCount(TOPIC) : endpoint.clients.size });
    } else if (cmd.type === 'stats') {
      send({ type: 'stats', topics: topics ? { ...topics.stats() } : null });
    } else if (cmd.type === 'publish') {
      // Steady rate: each turn publishes every message that is due by now, stamped with the
      // moment it is actually published (so timer lag never counts as delivery latency).
      const start = now();
      const interval = 1e9 / cmd.rate;
      let seq = 0;
      const turn = () => {
        const due = Math.min(cmd.count, Math.floor(Number(now() - start) / interval) + 1);
        while (seq < due) {
          // A fresh buffer each time: the endpoint may still hold the previous one.
          const payload = Buffer.alloc(SIZE, 0x2a);
          payload.writeBigUInt64LE(now(), TS_AT);
          payload.writeUInt32LE(cmd.phase, PHASE_AT);
          payload.writeUInt32LE(seq++, SEQ_AT);
          endpoint.publish(TOPIC, payload, { binary: true });
        }
        // Bounded in time too: a machine that cannot keep the rate stops at the deadline.
        if (seq < cmd.count && Number(now() - start) / 1e6 < cmd.deadlineMs) setTimeout(turn, 1);
        else send({ type: 'published', count: seq, seconds: Number(now() - start) / 1e9 });
      };
      turn();
    }
  });

  process.on('SIGTERM', async () => {
    const force = setTimeout(() => process.exit(1), 3000);
    httpServer.close();
    await endpoint.close({ timeout: 500 });
    clearTimeout(force);
    process.exit(0);
  });

  httpServer.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (httpServer.address() as net.AddressInfo).port }));
}

// ---- load role --------------------------------------------------------------------------

function load(): void {
  const key = randomBytes(16).toString('base64');
  const accept = acceptKey(key);
  const sockets: net.Socket[] = [];
  let phase = -1;
  let expected = 0;
  let received = 0;
  let errors = 0;
  let first = 0n;
  let last = 0n;
  let lat = new Float64Array(0);
  let remote: Uint8Array = new Uint8Array(0);
  let finishWaiter: (() => void) | null = null;

  const deliver = (msg: Buffer, isRemote: boolean) => {
    const at = now();
    if (msg.length !== SIZE || msg.readUInt32LE(PHASE_AT) !== phase) return; // a warm-up straggler
    const ts = msg.readBigUInt64LE(TS_AT);
    if (msg.readUInt32LE(SEQ_AT) === 0 && (first === 0n || ts < first)) first = ts;
    if (received < lat.length) {
      lat[received] = Number(at - ts) / 1e6;
      remote[received] = isRemote ? 1 : 0;
    }
    received++;
    last = at;
    if (received >= expected && finishWaiter) finishWaiter();
  };

  const open = (port: number, isRemote: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let upgraded = false;
      sock.on('connect', () =>
        sock.write(
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      sock.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) return reject(new Error(`bad handshake: ${head.split('\r\n')[0]}`));
          upgraded = true;
          buf = buf.subarray(end + 4);
          sockets.push(sock);
          resolve();
        }
        // Server frames: unmasked, unfragmented here (64-byte binary messages).
        while (buf.length >= 2) {
          let len = buf[1] & 0x7f;
          let at = 2;
          if (len === 126) {
            if (buf.length < 4) break;
            len = buf.readUInt16BE(2);
            at = 4;
          } else if (len === 127) {
            if (buf.length < 10) break;
            len = Number(buf.readBigUInt64BE(2));
            at = 10;
          }
          if (buf.length < at + len) break;
          if ((buf[0] & 0x0f) === 0x2) deliver(buf.subarray(at, at + len), isRemote);
          buf = buf.subarray(at + len);
        }
      });
      sock.on('error', (err) => {
        errors++;
        if (!upgraded) reject(err);
      });
    });

  process.on('message', async (cmd: Cmd) => {
    if (cmd.type === 'connect') {
      for (const t of cmd.targets) {
        // In batches, so the servers' accept queues are not flooded.
        for (let i = 0; i < t.count; i += 50) {
          await Promise.all(Array.from({ length: Math.min(50, t.count - i) }, () => open(t.port, t.remote)));
        }
      }
      send({ type: 'connected', count: sockets.length });
    } else if (cmd.type === 'phase') {
      phase = cmd.phase;
      expected = cmd.expected;
      received = 0;
      first = last = 0n;
      lat = new Float64Array(expected);
      remote = new Uint8Array(expected);
    } else if (cmd.type === 'finish') {
      expected = cmd.expected;
      // Deliveries may trail the last publish: wait for them, up to graceMs.
      if (received < expected) {
        await new Promise<void>((r) => {
          finishWaiter = r;
          setTimeout(r, cmd.graceMs);
        });
      }
      finishWaiter = null;
      phase = -1; // later stragglers of this phase are not counted
      const n = Math.min(received, lat.length);
      const pick = (want: number | null) => {
        const xs: number[] = [];
        for (let i = 0; i < n; i++) if (want === null || remote[i] === want) xs.push(lat[i]);
        xs.sort((a, b) => a - b);
        const q = (p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] : null);
        return { p50: q(0.5), p99: q(0.99), max: xs.length ? xs[xs.length - 1] : null };
      };
      const all = pick(null);
      const r = pick(1);
      const l = pick(0);
      send({
        type: 'result',
        result: {
          received,
          span: first && last ? Number(last - first) / 1e6 : 0,
          p50: all.p50 ?? 0,
          p99: all.p99 ?? 0,
          max: all.max ?? 0,
          remoteP50: r.p50,
          remoteP99: r.p99,
          localP50: l.p50,
          localP99: l.p99,
          errors,
        },
      });
    }
  });
  process.on('SIGTERM', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

// ---- orchestrator -----------------------------------------------------------------------

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
}

function start(role: 'server' | 'load', env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = fork(__filename, [role], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** The next message of `type` from `child`, or an error after `ms`. */
function next<T extends Msg['type']>(child: ChildProcess, type: T, ms: number): Promise<Extract<Msg, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`pid ${child.pid}: no '${type}' within ${ms} ms`));
    }, ms);
    const on = (m: Msg) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as Extract<Msg, { type: T }>);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`pid ${child.pid} exited (${code}) while waiting for '${type}'`)));
  });
}

/** SIGTERM by PID, SIGKILL after 3 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.exitCode === null && child.pid && process.kill(child.pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

interface Row {
  setup: 'redis' | 'local';
  instances: number;
  subscribers: number;
  rate: number;
  published: number;
  publishSeconds: number;
  expected: number;
  received: number;
  missing: number;
  deliveriesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  viaRedisP50: number | null;
  viaRedisP99: number | null;
  sameInstanceP50: number | null;
  sameInstanceP99: number | null;
  topics: Record<string, number> | null;
}

async function scenario(setup: 'redis' | 'local', subscribers: number, rates: number[], seconds: number, redisUrl?: string): Promise<Row[]> {
  const instances = setup === 'redis' ? 2 : 1;
  const servers = Array.from({ length: instances }, () => start('server', redisUrl ? { REDIS_URL: redisUrl } : {}));
  const loader = start('load');
  try {
    const ports = await Promise.all(servers.map((s) => next(s, 'ready', 15000).then((m) => m.port)));
    const per = Math.floor(subscribers / instances);
    loader.send({
      type: 'connect',
      targets: ports.map((port, i) => ({ port, count: i === instances - 1 ? subscribers - per * i : per, remote: i > 0 })),
    } satisfies Cmd);
    const { count } = await next(loader, 'connected', 60000);
    if (count !== subscribers) throw new Error(`only ${count} of ${subscribers} subscribers connected`);
    let local = 0;
    for (const s of servers) {
      s.send({ type: 'settle' } satisfies Cmd);
      local += (await next(s, 'settled', 10000)).subscribers;
    }
    if (local !== subscribers) throw new Error(`servers count ${local} subscribers, expected ${subscribers}`);

    const publisher = servers[0];
    const rows: Row[] = [];
    // Phase 0 warms up (JIT, buffers) and is not reported.
    const phases = [{ rate: rates[0], count: Math.max(50, Math.round(rates[0] * 1)) }, ...rates.map((rate) => ({ rate, count: Math.round(rate * seconds) }))];
    for (let p = 0; p < phases.length; p++) {
      const { rate, count } = phases[p];
      loader.send({ type: 'phase', phase: p, expected: count * subscribers } satisfies Cmd);
      // The publisher gives up at twice the phase's planned length (the machine cannot keep the rate).
      const planned = (count / rate) * 1000;
      publisher.send({ type: 'publish', phase: p, rate, count, deadlineMs: planned * 2 + 1000 } satisfies Cmd);
      const pub = await next(publisher, 'published', planned * 2 + 15000);
      const expected = pub.count * subscribers;
      // Deliveries may trail the last publish; they get a bounded grace period (5 s).
      loader.send({ type: 'finish', graceMs: 5000, expected } satisfies Cmd);
      const r = (await next(loader, 'result', 30000)).result;
      if (p === 0) continue;
      publisher.send({ type: 'stats' } satisfies Cmd);
      const stats = (await next(publisher, 'stats', 5000)).topics;
      rows.push({
        setup,
        instances,
        subscribers,
        rate,
        published: pub.count,
        publishSeconds: pub.seconds,
        expected,
        received: r.received,
        missing: expected - r.received,
        deliveriesPerSecond: r.span > 0 ? (r.received / r.span) * 1000 : 0,
        p50: r.p50,
        p99: r.p99,
        max: r.max,
        viaRedisP50: setup === 'redis' ? r.remoteP50 : null,
        viaRedisP99: setup === 'redis' ? r.remoteP99 : null,
        sameInstanceP50: r.localP50,
        sameInstanceP99: r.localP99,
        topics: stats,
      });
    }
    return rows;
  } finally {
    await Promise.all([loader, ...servers].map(stop));
  }
}

async function orchestrate(): Promise<void> {
  const subscribers = Number(process.env.SUBSCRIBERS ?? 1000);
  const rates = (process.env.RATES ?? '25,100').split(',').map(Number).filter((n) => n > 0);
  const seconds = Number(process.env.SECONDS ?? 5);
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
  const load1 = os.loadavg()[0];
  console.log(
    `Redis fan-out: ${subscribers} subscribers, one topic, ${SIZE}-byte binary messages, ${rates.join('/')} publishes/s for ${seconds} s each; ` +
      `${os.cpus().length} CPUs, load average ${load1.toFixed(2)} at start`,
  );
  const redis = await startBenchRedis();
  let rows: Row[] = [];
  try {
    rows = [...(await scenario('local', subscribers, rates, seconds)), ...(await scenario('redis', subscribers, rates, seconds, redis.url))];
  } finally {
    await redis.stop();
  }
  const f = (x: number | null, d = 2) => (x === null ? '-' : x.toFixed(d));
  const header = ['setup', 'pub/s', 'published', 'delivered', 'missing', 'deliveries/s', 'p50 ms', 'p99 ms', 'max ms', 'via Redis p50/p99', 'same inst. p50/p99'];
  const lines = rows.map((r) => [
    r.setup === 'redis' ? `2 inst. + Redis` : '1 inst. local',
    // The rate asked for, and the rate kept when it fell short by more than 5%.
    r.published / r.publishSeconds < r.rate * 0.95 ? `${r.rate} (kept ${Math.round(r.published / r.publishSeconds)})` : String(r.rate),
    String(r.published),
    String(r.received),
    String(r.missing),
    Math.round(r.deliveriesPerSecond).toLocaleString('en-US'),
    f(r.p50),
    f(r.p99),
    f(r.max),
    r.viaRedisP50 === null ? '-' : `${f(r.viaRedisP50)} / ${f(r.viaRedisP99)}`,
    `${f(r.sameInstanceP50)} / ${f(r.sameInstanceP99)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(fmt(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const l of lines) console.log(fmt(l));
  const dir = path.join(__dirname, '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `redis-fanout-node${process.versions.node.split('.')[0]}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverageAtStart: load1, subscribers, rates, seconds, size: SIZE, rows },
      null,
      2,
    ) + '\n',
  );
  console.log(`written to ${path.relative(process.cwd(), file)}`);
}

const role = process.argv[2];
if (role === 'server') void server();
else if (role === 'load') load();
else
  orchestrate().catch((err) => {
    console.error(err);
    killAll();
    process.exit(1);
  });
