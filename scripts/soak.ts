// Soak test: `npm run soak [-- --connections 10000 --hold 30 --interval 2000 --procs 4]`.
// A wsgate echo server runs in its own process (so its memory is its own); client processes
// open the connections on loopback, send a message per connection every `interval` ms for
// `hold` seconds, check every echo, then close. Prints the server's memory per connection,
// event-loop delay, errors, and whether memory, handles and timers return to the baseline.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { attachWebSocket } from '../src';
import { clientFrame, handshakeRequest, parseServerFrames } from '../test/helpers/raw-client';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const CHILD_EXEC_ARGV = ['-r', 'ts-node/register/transpile-only', '--expose-gc'];
const MiB = 1024 * 1024;
const RESOLUTION_MS = 10;
/** Event-loop delay in ms beyond the sampling interval, from a histogram value in ns. */
const lag = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

// ---- server process ---------------------------------------------------------------------

interface Measure {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  clients: number;
  resources: Record<string, number>;
  upgradeListeners: number;
  timers: number;
  delay: { p50: number; p99: number; max: number };
  errors: number;
  firstError: string;
  stats: { accepted: number; messagesIn: number; messagesOut: number; backpressureEvents: number };
}

/** Counts timers created through the globals (wsgate's own) that are still pending. */
function trackTimers(): () => number {
  const live = new Set<NodeJS.Timeout>();
  const { setTimeout: st, setInterval: si, clearTimeout: ct, clearInterval: ci } = globalThis;
  const g = globalThis as Record<string, unknown>;
  g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t: NodeJS.Timeout = st(() => {
      live.delete(t);
      fn(...args);
    }, ms);
    live.add(t);
    return t;
  };
  g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const t = si(fn, ms, ...args);
    live.add(t);
    return t;
  };
  g.clearTimeout = (t: NodeJS.Timeout | undefined) => {
    if (t) live.delete(t);
    ct(t);
  };
  g.clearInterval = (t: NodeJS.Timeout | undefined) => {
    if (t) live.delete(t);
    ci(t);
  };
  return () => live.size;
}

function runServer(): void {
  // getActiveResourcesInfo() does not list unref'd timers (wsgate unrefs its own), so count them.
  const pendingTimers = trackTimers();
  const server = http.createServer((_req, res) => res.end('soak'));
  let errors = 0;
  let firstError = '';
  const noteError = (err: unknown) => {
    if (errors++ === 0) firstError = String(err);
  };
  server.on('clientError', (err, socket) => {
    noteError(err);
    socket.destroy();
  });
  const endpoint = attachWebSocket(
    server,
    (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    },
    { onError: noteError },
  );
  // Samples every 10 ms; each sample is the time between ticks, so 10 ms is subtracted below.
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();

  const measure = (gc: boolean): Measure => {
    if (gc) for (let i = 0; i < 3; i++) global.gc!();
    const m = process.memoryUsage();
    const resources: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const s = endpoint.stats();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      clients: endpoint.clients.size,
      resources,
      upgradeListeners: server.listenerCount('upgrade'),
      timers: pendingTimers(),
      delay: { p50: lag(delay.percentile(50)), p99: lag(delay.percentile(99)), max: lag(delay.max) },
      errors,
      firstError,
      stats: { accepted: s.accepted, messagesIn: s.messagesIn, messagesOut: s.messagesOut, backpressureEvents: s.backpressureEvents },
    };
  };

  process.on('message', (msg: { cmd: string; gc?: boolean }) => {
    if (msg.cmd === 'measure') process.send!({ type: 'measure', measure: measure(msg.gc ?? false) });
    else if (msg.cmd === 'resetDelay') delay.reset();
    else if (msg.cmd === 'exit') process.exit(0);
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
  });
}

// ---- client process ---------------------------------------------------------------------

interface Conn {
  socket: net.Socket;
  head: boolean;
  pending: Buffer;
  sent: number;
  echoed: number;
  expected: string[];
  closeCode: number | null;
}

interface ClientReport {
  type: 'report';
  connected: number;
  failed: number;
  sent: number;
  echoed: number;
  mismatched: number;
  droppedEarly: number;
  closedClean: number;
  closedOther: number;
  firstError: string;
}

function runClients(port: number, count: number, interval: number): void {
  const conns: Conn[] = [];
  let failed = 0;
  let mismatched = 0;
  let droppedEarly = 0;
  let closing = false;
  let firstError = '';
  const noteError = (err: unknown) => {
    if (!firstError) firstError = String(err);
  };

  const onFrames = (c: Conn, chunk: Buffer) => {
    let data = c.pending.length > 0 ? Buffer.concat([c.pending, chunk]) : chunk;
    if (!c.head) {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        c.pending = Buffer.from(data);
        return;
      }
      if (!data.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) throw new Error(`refused: ${data.subarray(0, 40)}`);
      c.head = true;
      data = data.subarray(end + 4);
    }
    const { frames, rest } = parseServerFrames(data);
    c.pending = Buffer.from(rest);
    for (const f of frames) {
      if (f.opcode === 0x1) {
        c.echoed++;
        if (f.payload.toString() !== c.expected.shift()) mismatched++;
      } else if (f.opcode === 0x9) {
        c.socket.write(clientFrame({ opcode: 0xa, payload: f.payload }));
      } else if (f.opcode === 0x8) {
        c.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
      }
    }
  };

  const open = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
      const c: Conn = { socket, head: false, pending: Buffer.alloc(0), sent: 0, echoed: 0, expected: [], closeCode: null };
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        if (ok) conns.push(c);
        else failed++;
        resolve();
      };
      socket.setNoDelay(true);
      socket.on('connect', () => socket.write(handshakeRequest('/', {}, port)));
      socket.on('data', (chunk: Buffer) => {
        try {
          onFrames(c, chunk);
          if (c.head) settle(true);
        } catch (err) {
          noteError(err);
          socket.destroy();
        }
      });
      socket.on('error', (err) => {
        noteError(err);
        settle(false);
      });
      socket.on('close', () => {
        if (!closing && settled) droppedEarly++;
        settle(false);
      });
    });

  const connectAll = async () => {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next++;
        await open();
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
  };

  // One timer: every 50 ms, send on the next slice of connections, so each sends once per interval.
  let ticker: NodeJS.Timeout | null = null;
  const startTraffic = () => {
    const perTick = Math.max(1, Math.ceil((conns.length * 50) / interval));
    let at = 0;
    ticker = setInterval(() => {
      for (let k = 0; k < perTick && conns.length > 0; k++) {
        const c = conns[at++ % conns.length];
        if (c.socket.destroyed) continue;
        const text = `m${c.sent++} ${randomBytes(6).toString('hex')}`;
        c.expected.push(text);
        c.socket.write(clientFrame({ opcode: 0x1, payload: text }));
      }
    }, 50);
  };

  const closeAll = async (): Promise<ClientReport> => {
    if (ticker) clearInterval(ticker);
    await new Promise((r) => setTimeout(r, 1000)); // let the last echoes arrive
    closing = true;
    let clean = 0;
    let other = 0;
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            const done = () => {
              if (c.closeCode === 1000) clean++;
              else other++;
              resolve();
            };
            if (c.socket.destroyed) return done();
            c.socket.once('close', done);
            c.socket.write(clientFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) }));
            c.socket.end();
          }),
      ),
    );
    return {
      type: 'report',
      connected: conns.length,
      failed,
      sent: conns.reduce((n, c) => n + c.sent, 0),
      echoed: conns.reduce((n, c) => n + c.echoed, 0),
      mismatched,
      droppedEarly,
      closedClean: clean,
      closedOther: other,
      firstError,
    };
  };

  process.on('message', async (msg: { cmd: string }) => {
    if (msg.cmd === 'start') startTraffic();
    else if (msg.cmd === 'close') {
      process.send!(await closeAll());
    } else if (msg.cmd === 'exit') process.exit(0);
  });
  const started = Date.now();
  connectAll().then(() => process.send!({ type: 'connected', connected: conns.length, failed, ms: Date.now() - started }));
}

// ---- coordinator ------------------------------------------------------------------------

function fdLimit(): number {
  return Number(execFileSync('bash', ['-c', 'ulimit -n']).toString().trim());
}

/** Raises the open-files limit by re-running this script under `ulimit -n`. */
function ensureFdLimit(needed: number): boolean {
  const current = fdLimit();
  if (current >= needed) return false;
  if (process.env.SOAK_REEXEC) {
    throw new Error(`the open-files limit is ${current} (hard limit too), ${needed} are needed: raise it or pass --connections`);
  }
  console.log(`open-files limit ${current} < ${needed}: re-running under a higher ulimit`);
  const argv = ['-r', 'ts-node/register/transpile-only', ...process.argv.slice(1)];
  const command = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';
  try {
    execFileSync('bash', ['-c', command, 'soak', process.execPath, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, SOAK_REEXEC: '1' },
    });
  } catch {
    process.exitCode = 1; // the re-run printed its own error
  }
  return true;
}

function next<T>(child: ChildProcess, type: string, ms = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${type}"`)), ms);
    const onMessage = (msg: { type: string }) => {
      if (msg.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg as T);
    };
    child.on('message', onMessage);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;

async function coordinate(): Promise<void> {
  const connections = arg('connections', 10_000);
  const hold = arg('hold', 30);
  const interval = arg('interval', 2000);
  const procs = arg('procs', 4);
  if (ensureFdLimit(connections + 500)) return;

  console.log(`soak: ${connections} connections from ${procs} processes, held ${hold} s, a message each per ${interval} ms`);
  const server = fork(__filename, ['server'], { execArgv: CHILD_EXEC_ARGV });
  const { port } = await next<{ port: number }>(server, 'ready');
  const measure = async (gc: boolean) => {
    server.send({ cmd: 'measure', gc });
    return (await next<{ measure: Measure }>(server, 'measure')).measure;
  };
  await sleep(500);
  const base = await measure(true);
  server.send({ cmd: 'resetDelay' });

  const clients: ChildProcess[] = [];
  const connectStart = Date.now();
  for (let i = 0; i < procs; i++) {
    const share = Math.floor(connections / procs) + (i < connections % procs ? 1 : 0);
    clients.push(fork(__filename, ['clients', String(port), String(share), String(interval)], { execArgv: CHILD_EXEC_ARGV }));
  }
  const connected = await Promise.all(clients.map((c) => next<{ connected: number; failed: number }>(c, 'connected')));
  const connectMs = Date.now() - connectStart;
  const open = connected.reduce((n, c) => n + c.connected, 0);
  const connectFailed = connected.reduce((n, c) => n + c.failed, 0);
  const afterConnect = await measure(false);
  const idle = await measure(true);

  server.send({ cmd: 'resetDelay' });
  for (const c of clients) c.send({ cmd: 'start' });
  const holdStart = Date.now();
  let peakRss = idle.rss;
  while (Date.now() - holdStart < hold * 1000) {
    await sleep(Math.min(5000, hold * 1000 - (Date.now() - holdStart)));
    const m = await measure(false);
    peakRss = Math.max(peakRss, m.rss);
    console.log(
      `  t+${Math.round((Date.now() - holdStart) / 1000)}s: ${m.clients} open, rss ${mib(m.rss)}, ` +
        `${m.stats.messagesIn} messages in, event-loop p99 ${m.delay.p99.toFixed(1)} ms`,
    );
  }
  const loaded = await measure(false);
  peakRss = Math.max(peakRss, loaded.rss);

  for (const c of clients) c.send({ cmd: 'close' });
  const reports = await Promise.all(clients.map((c) => next<ClientReport>(c, 'report')));
  for (let i = 0; i < 100; i++) {
    if ((await measure(false)).clients === 0) break;
    await sleep(100);
  }
  await sleep(1000);
  const after = await measure(true);
  for (const c of clients) c.send({ cmd: 'exit' });
  server.send({ cmd: 'exit' });

  const sum = (k: keyof ClientReport) => reports.reduce((n, r) => n + (r[k] as number), 0);
  const errorText = [after.firstError, ...reports.map((r) => r.firstError)].filter(Boolean)[0] ?? 'none';
  const n = Math.max(1, open);
  const resourceDiff = Object.keys({ ...base.resources, ...after.resources })
    .filter((k) => (base.resources[k] ?? 0) !== (after.resources[k] ?? 0))
    .map((k) => `${k} ${base.resources[k] ?? 0} -> ${after.resources[k] ?? 0}`);
  const lines = [
    '',
    `connections      ${open} open of ${connections} (${connectFailed} failed) in ${(connectMs / 1000).toFixed(1)} s`,
    `messages         ${sum('sent')} sent, ${sum('echoed')} echoed, ${sum('mismatched')} mismatched, ${sum('droppedEarly')} connections dropped early`,
    `close            ${sum('closedClean')} closed with 1000, ${sum('closedOther')} otherwise; server now has ${after.clients} open`,
    `server errors    ${after.errors} (first: ${errorText})`,
    `baseline         rss ${mib(base.rss)}, heap ${mib(base.heapUsed)}, external ${mib(base.external)}`,
    `connected, idle  rss ${mib(idle.rss)}, heap ${mib(idle.heapUsed)}, external ${mib(idle.external)} (after GC)`,
    `per connection   rss ${kib((idle.rss - base.rss) / n)}, heap ${kib((idle.heapUsed - base.heapUsed) / n)}, ` +
      `external ${kib((idle.external - base.external) / n)} (idle, after GC)`,
    `under load       rss ${mib(loaded.rss)} (peak ${mib(peakRss)}), heap ${mib(loaded.heapUsed)}; ` +
      `per connection rss ${kib((loaded.rss - base.rss) / n)}`,
    `event loop       while connecting: p50 ${afterConnect.delay.p50.toFixed(1)} ms, p99 ${afterConnect.delay.p99.toFixed(1)} ms, max ${afterConnect.delay.max.toFixed(1)} ms`,
    `event loop       while holding:    p50 ${loaded.delay.p50.toFixed(1)} ms, p99 ${loaded.delay.p99.toFixed(1)} ms, max ${loaded.delay.max.toFixed(1)} ms`,
    `after close      rss ${mib(after.rss)}, heap ${mib(after.heapUsed)} (baseline ${mib(base.heapUsed)}, ` +
      `+${mib(after.heapUsed - base.heapUsed)}), external ${mib(after.external)} (after GC)`,
    `handles, timers  while connected: ${JSON.stringify(idle.resources)}, ${idle.timers} pending timers`,
    `handles, timers  after close ${resourceDiff.length === 0 ? 'same as baseline' : resourceDiff.join(', ')}: ${JSON.stringify(after.resources)}`,
    `pending timers   ${after.timers} after close (baseline ${base.timers})`,
    `upgrade listeners ${after.upgradeListeners} (baseline ${base.upgradeListeners})`,
  ];
  console.log(lines.join('\n'));
  const leaked = after.clients !== 0 || resourceDiff.length > 0 || after.timers !== base.timers || after.heapUsed - base.heapUsed > 16 * MiB;
  const broken = sum('mismatched') > 0 || sum('droppedEarly') > 0 || after.errors > 0 || connectFailed > 0 || sum('echoed') !== sum('sent');
  if (leaked || broken) {
    console.log(`\nFAILED: ${leaked ? 'resources not released' : ''} ${broken ? 'messages or connections lost' : ''}`);
    process.exitCode = 1;
  }
}

const mode = process.argv[2];
if (mode === 'server') runServer();
else if (mode === 'clients') runClients(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else
  coordinate().catch((err) => {
    console.error(err);
    process.exit(1);
  });
