// `npm run bench [-- options]`: wsgate vs ws vs a raw byte-echo baseline, each server in a
// fresh process per run, interleaved round by round, load from a separate generator process.
// `ws` runs without its optional native addon, `ws+native` with bufferutil (scenarios 1-4).
// Options: --quick, --rounds N, --duration S, --warmup S, --only 1,3,8a, --servers wsgate,ws,
// --no-pin, --profile (CPU profiles of wsgate and its load generator; --profile-all: of every
// server), --self-check, --out FILE.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, type as osType, release as osRelease } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type ClientConfig,
  type ClientResult,
  type MemReport,
  median,
  type ServerConfig,
  type ServerKind,
  type ServerMode,
  type WsImpl,
} from './common';

const ROOT = resolve(__dirname, '..');
const HERE = __dirname;
const SERVERS: ServerKind[] = ['wsgate', 'ws', 'raw'];
/** The echo scenarios also run ws with bufferutil, the addon ws users install for speed. */
const ECHO_SERVERS: ServerKind[] = ['wsgate', 'ws', 'ws+native', 'raw'];

// ---- options ----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const value = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = flag('--quick');
const opts = {
  quick,
  rounds: Number(value('--rounds') ?? (quick ? 1 : 5)),
  warmup: Number(value('--warmup') ?? (quick ? 0.5 : 1)),
  duration: Number(value('--duration') ?? (quick ? 1 : 3)),
  only: value('--only')?.split(',') ?? null,
  servers: (value('--servers')?.split(',') as ServerKind[] | undefined) ?? ECHO_SERVERS,
  pin: !flag('--no-pin'),
  profile: flag('--profile') || flag('--profile-all'),
  profileAll: flag('--profile-all'),
  selfCheck: flag('--self-check'),
  out: value('--out'),
};
for (const k of opts.servers) {
  if (!ECHO_SERVERS.includes(k)) throw new Error(`--servers: unknown server "${k}" (known: ${ECHO_SERVERS.join(', ')})`);
}
for (const [k, v] of Object.entries({ rounds: opts.rounds, warmup: opts.warmup, duration: opts.duration })) {
  if (!(v > 0) || v > 3600) throw new Error(`--${k} must be a positive number`);
}

const hasTaskset = cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const pin = opts.pin && hasTaskset;
const hasBash = existsSync('/bin/bash');
// Idle wants 10,000 sockets in each of two processes; stay under the hard fd limit.
const fdLimit = (() => {
  if (!hasBash) return 1024;
  const out = spawnSync('/bin/bash', ['-c', 'ulimit -Hn']).stdout?.toString().trim();
  return out === 'unlimited' ? Infinity : Number(out) || 1024;
})();
const IDLE_CONNS = Math.min(10000, fdLimit - 256);
const SERVER_CPU = 1;
const CLIENT_CPU = 0;

// ---- scenarios --------------------------------------------------------------------------------

interface Measured {
  result: ClientResult;
  memBefore?: MemReport;
  memAfter?: MemReport;
  serverCpu?: number;
}

interface Scenario {
  id: string;
  title: string;
  unit: string;
  /** Memory figures: smaller is better. */
  lower?: boolean;
  mode: ServerMode;
  servers: ServerKind[];
  client: (port: number) => ClientConfig;
  figure: (m: Measured) => number;
}

const time = () => ({ warmup: opts.warmup, duration: opts.duration });
const perSecond = (m: Measured) => m.result.count / m.result.seconds;
const mbPerSecond = (m: Measured) => m.result.bytes / m.result.seconds / 1e6;
const kibPerConn = (m: Measured) => (m.memAfter!.rss - m.memBefore!.rss) / m.result.opened! / 1024;
const echo = (conns: number, inflight: number, size: number, binary: boolean) => (port: number): ClientConfig => ({
  mode: 'echo',
  port,
  conns,
  inflight,
  size,
  binary,
  ...time(),
});

const SCENARIOS: Scenario[] = [
  { id: '1', title: '32 B text, 64 conns x 8 in flight', unit: 'msg/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(64, 8, 32, false), figure: perSecond },
  { id: '2', title: '1 KiB text, 64 x 4', unit: 'msg/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(64, 4, 1024, false), figure: perSecond },
  { id: '3', title: '64 KiB binary, 8 x 2', unit: 'MB/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(8, 2, 65536, true), figure: mbPerSecond },
  { id: '4', title: '1 MiB binary, 2 x 1', unit: 'MB/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(2, 1, 1048576, true), figure: mbPerSecond },
  {
    id: '5',
    title: 'handshakes, 32 concurrent (connect, upgrade, close)',
    unit: 'handshakes/s',
    mode: 'echo',
    servers: SERVERS,
    client: (port) => ({ mode: 'handshake', port, concurrency: 32, ...time() }),
    figure: perSecond,
  },
  {
    id: '6',
    title: `idle: ${IDLE_CONNS.toLocaleString('en-US')} open connections, server RSS`,
    unit: 'KiB/conn',
    lower: true,
    mode: 'echo',
    servers: SERVERS,
    client: (port) => ({ mode: 'idle', port, conns: IDLE_CONNS, deflate: false }),
    figure: kibPerConn,
  },
  {
    id: '7',
    title: 'broadcast: 64 B text to 1,000 subscribers, 4 in flight',
    unit: 'deliveries/s',
    mode: 'broadcast',
    servers: ['wsgate', 'ws'],
    client: (port) => ({ mode: 'broadcast', port, subs: 1000, inflight: 4, size: 64, ...time() }),
    figure: perSecond,
  },
  {
    id: '8a',
    title: 'permessage-deflate: 1 KiB JSON, 64 x 4',
    unit: 'msg/s',
    mode: 'deflate',
    servers: SERVERS,
    client: (port) => ({ mode: 'deflate', port, conns: 64, inflight: 4, size: 1024, ...time() }),
    figure: perSecond,
  },
  {
    id: '8b',
    title: 'permessage-deflate: 1,000 conns after one message each, server RSS',
    unit: 'KiB/conn',
    lower: true,
    mode: 'deflate',
    servers: ['wsgate', 'ws'],
    client: (port) => ({ mode: 'idle', port, conns: 1000, deflate: true }),
    figure: kibPerConn,
  },
];

// ---- child processes ------------------------------------------------------------------------

const children = new Set<ChildProcess>();
/** Server kinds that cannot run on this machine, with what the tables say instead. */
const unavailable = new Map<ServerKind, string>();

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  console.error(err);
  killAll();
  process.exit(1);
});

/** Starts node on a script, through bash for a higher fd limit and taskset for pinning. */
function startNode(script: string, args: string[], cpu: number, nodeArgs: string[] = []): ChildProcess {
  const node = process.execPath;
  const full = [...nodeArgs, join(HERE, script), ...args];
  const child = hasBash
    ? spawn(
        '/bin/bash',
        [
          '-c',
          `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${pin ? `taskset -c ${cpu} ` : ''}"$0" "$@"`,
          node,
          ...full,
        ],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: ROOT },
      )
    : spawn(node, full, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: ROOT });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // IPC to a child that is just exiting fails with EPIPE; the exit itself is handled elsewhere.
  child.on('error', (err) => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') console.error(`child process: ${err.message}`);
  });
  return child;
}

function waitFor<T>(child: ChildProcess, pick: (msg: any) => T | undefined, ms: number, what: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), ms);
    const onMessage = (msg: unknown) => {
      const v = pick(msg);
      if (v !== undefined) done(null, v);
    };
    const onExit = (code: number | null) => done(new Error(`process exited (${code}) while waiting for ${what}`));
    const done = (err: Error | null, v?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolvePromise(v as T);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

let askId = 0;
function ask<T>(child: ChildProcess, cmd: 'mem' | 'cpu'): Promise<T> {
  const id = ++askId;
  child.send({ id, cmd }, () => {}); // a failed send shows up as the timeout or exit below
  return waitFor(child, (m) => (m && m.id === id ? (m[cmd] as T) : undefined), 30000, `server ${cmd}`);
}

/** Waits for a server's port and checks that a ws server runs the masking code its kind names. */
async function serverReady(server: ChildProcess, kind: ServerKind): Promise<{ port: number; impl: WsImpl | null }> {
  const ready = await waitFor(server, (m) => (m && m.ready ? { port: m.ready as number, impl: m.impl as WsImpl | null } : undefined), 15000, 'server start');
  const addon = ready.impl?.bufferutil;
  if (kind === 'ws' && addon !== 'not loaded') throw new Error(`plain ws loaded bufferutil (${addon})`);
  if (kind === 'ws+native' && addon !== 'native') throw new Error(`ws+native runs without the native addon (bufferutil ${addon})`);
  return ready;
}

/** Starts each selected ws kind once to report what it loads; drops ws+native if the addon is missing. */
async function probeWs(): Promise<Partial<Record<ServerKind, WsImpl | string>>> {
  const out: Partial<Record<ServerKind, WsImpl | string>> = {};
  for (const kind of ['ws', 'ws+native'] as const) {
    if (!opts.servers.includes(kind)) continue;
    const config: ServerConfig = { kind, mode: 'echo' };
    const child = startNode('server.js', [JSON.stringify(config)], SERVER_CPU);
    try {
      const ready = await waitFor(child, (m) => (m && m.ready ? (m.impl as WsImpl) : undefined), 15000, `${kind} server start`);
      out[kind] = ready;
      if (kind === 'ws+native' && ready.bufferutil !== 'native') {
        unavailable.set(kind, ready.installed ? 'n/a (addon failed to load)' : 'n/a (addon not installed)');
      }
    } catch (err) {
      out[kind] = (err as Error).message;
      if (kind === 'ws+native') unavailable.set(kind, 'n/a (server failed to start)');
    } finally {
      await stop(child, true);
    }
  }
  opts.servers = opts.servers.filter((k) => !unavailable.has(k));
  return out;
}

const describeImpl = (x: WsImpl | string | undefined) =>
  x === undefined ? 'not run' : typeof x === 'string' ? `probe failed: ${x}` : `bufferutil ${x.bufferutil} (${x.installed ? 'installed' : 'not installed'}; ${x.env})`;

async function stop(child: ChildProcess, graceful: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (graceful && child.connected) child.send({ cmd: 'exit' }, (err) => err && child.kill('SIGKILL'));
  else child.kill('SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceful ? 5000 : 1000);
  await exited;
  clearTimeout(timer);
}

/** Busy and total jiffies per CPU from /proc/stat (Linux), to see who else used our CPUs. */
function cpuTimes(): Map<number, { busy: number; total: number }> | null {
  try {
    const out = new Map<number, { busy: number; total: number }>();
    for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      out.set(Number(m[1]), { busy: total - v[3] - v[4], total });
    }
    return out;
  } catch {
    return null;
  }
}

function busyShare(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>, cpu: number): number | null {
  const x = a?.get(cpu);
  const y = b?.get(cpu);
  if (!x || !y || y.total === x.total) return null;
  return (y.busy - x.busy) / (y.total - x.total);
}

// ---- one run ----------------------------------------------------------------------------------

interface RunRecord {
  round: number;
  scenario: string;
  server: ServerKind;
  figure: number | null;
  serverCpu: number | null;
  clientCpu: number | null;
  /** CPU used by other processes on the server's and the generator's CPU (pinned runs). */
  otherLoad: { serverCpu: number | null; clientCpu: number | null } | null;
  result?: ClientResult;
  memBefore?: MemReport;
  memAfter?: MemReport;
  error?: string;
}

async function runOne(round: number, s: Scenario, kind: ServerKind, corrupt = false): Promise<RunRecord> {
  const config: ServerConfig = { kind, mode: s.mode, corrupt };
  const profileArgs = (who: string) =>
    opts.profile && (kind === 'wsgate' || opts.profileAll)
      ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results', 'profiles'), '--cpu-prof-name', `s${s.id}-r${round}-${kind}-${who}-${Date.now()}.cpuprofile`]
      : [];
  const server = startNode('server.js', [JSON.stringify(config)], SERVER_CPU, ['--expose-gc', ...profileArgs('server')]);
  let client: ChildProcess | null = null;
  const record: RunRecord = { round, scenario: s.id, server: kind, figure: null, serverCpu: null, clientCpu: null, otherLoad: null };
  try {
    const { port } = await serverReady(server, kind);
    const measured: Partial<Measured> = {};
    const cfg = s.client(port);
    if (cfg.mode === 'idle') measured.memBefore = await ask<MemReport>(server, 'mem');
    client = startNode('client.js', [], CLIENT_CPU, profileArgs('generator'));
    const c = client;
    const cpu: { start?: Promise<[number, bigint]>; end?: Promise<[number, bigint]> } = {};
    const stat: { start?: ReturnType<typeof cpuTimes>; end?: ReturnType<typeof cpuTimes> } = {};
    const sample = () => ask<number>(server, 'cpu').then((cpu): [number, bigint] => [cpu, process.hrtime.bigint()]);
    c.on('message', (m: any) => {
      if (m?.event === 'window-start') {
        cpu.start = sample();
        stat.start = cpuTimes();
      } else if (m?.event === 'window-end') {
        cpu.end = sample();
        stat.end = cpuTimes();
      }
      else if (m?.event === 'opened') {
        ask<MemReport>(server, 'mem').then(
          (mem) => {
            measured.memAfter = mem;
            c.send({ cmd: 'release' }, () => {});
          },
          () => c.kill('SIGKILL'),
        );
      }
    });
    c.send({ cmd: 'run', config: cfg }, () => {});
    const limit = 'duration' in cfg ? (cfg.warmup + cfg.duration) * 1000 + 60000 : 240000;
    const result = await waitFor(c, (m) => (m && m.result ? (m.result as ClientResult) : undefined), limit, 'load generator');
    measured.result = result;
    record.result = result;
    record.clientCpu = 'duration' in cfg ? result.cpu : null;
    if (cpu.start && cpu.end) {
      const [a, ta] = await cpu.start;
      const [b, tb] = await cpu.end;
      record.serverCpu = (b - a) / 1e6 / (Number(tb - ta) / 1e9);
    }
    if (pin && stat.start && stat.end) {
      const other = (cpuNo: number, own: number | null) => {
        const busy = busyShare(stat.start!, stat.end!, cpuNo);
        return busy === null || own === null ? null : Math.max(0, busy - own);
      };
      record.otherLoad = { serverCpu: other(SERVER_CPU, record.serverCpu), clientCpu: other(CLIENT_CPU, record.clientCpu) };
    }
    record.memBefore = measured.memBefore;
    record.memAfter = measured.memAfter;
    if (result.errors > 0) record.error = `${result.errors} error(s): ${result.firstError}`;
    else record.figure = s.figure(measured as Measured);
  } catch (err) {
    record.error = (err as Error).message;
  } finally {
    if (client) await stop(client, true);
    await stop(server, true);
  }
  return record;
}

// ---- formatting -------------------------------------------------------------------------------

function fmt(n: number | null | undefined, unit = ''): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) + (unit ? ` ${unit}` : '');
}
const pct = (n: number | null) => (n === null ? '  n/a' : `${Math.round(n * 100)}%`.padStart(5));
const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);

interface ServerSummary {
  median: number;
  min: number;
  max: number;
  runs: number;
  /** Medians over the runs, as fractions of one core. */
  serverCpu: number | null;
  clientCpu: number | null;
  otherServerCpu: number | null;
  otherClientCpu: number | null;
}

interface Summary {
  scenario: string;
  title: string;
  unit: string;
  lowerIsBetter: boolean;
  servers: Partial<Record<ServerKind, ServerSummary | null>>;
  ratios: { wsgateVsWs: number | null; wsgateVsWsNative: number | null; wsgateVsRaw: number | null; wsVsRaw: number | null };
}

function summarize(records: RunRecord[]): Summary[] {
  const out: Summary[] = [];
  for (const s of SCENARIOS.filter(selected)) {
    const servers: Summary['servers'] = {};
    for (const kind of s.servers.filter((k) => opts.servers.includes(k))) {
      const mine = records.filter((r) => r.scenario === s.id && r.server === kind);
      const figures = mine.filter((r) => r.figure !== null).map((r) => r.figure!);
      const cpu = (xs: (number | null)[]) => {
        const v = xs.filter((x): x is number => x !== null);
        return v.length ? median(v) : null;
      };
      servers[kind] = figures.length
        ? {
            median: median(figures),
            min: Math.min(...figures),
            max: Math.max(...figures),
            runs: figures.length,
            serverCpu: cpu(mine.map((r) => r.serverCpu)),
            clientCpu: cpu(mine.map((r) => r.clientCpu)),
            otherServerCpu: cpu(mine.map((r) => r.otherLoad?.serverCpu ?? null)),
            otherClientCpu: cpu(mine.map((r) => r.otherLoad?.clientCpu ?? null)),
          }
        : null;
    }
    const m = (k: ServerKind) => servers[k]?.median ?? null;
    out.push({
      scenario: s.id,
      title: s.title,
      unit: s.unit,
      lowerIsBetter: s.lower ?? false,
      servers,
      ratios: {
        wsgateVsWs: ratio(m('wsgate'), m('ws')),
        wsgateVsWsNative: ratio(m('wsgate'), m('ws+native')),
        wsgateVsRaw: ratio(m('wsgate'), m('raw')),
        wsVsRaw: ratio(m('ws'), m('raw')),
      },
    });
  }
  return out;
}

function markdown(summary: Summary[]): string {
  const cell = (s: Summary, kind: ServerKind) => {
    const x = s.servers[kind];
    if (x === undefined) return SCENARIOS.find((sc) => sc.id === s.scenario)!.servers.includes(kind) ? (unavailable.get(kind) ?? '-') : '-';
    return x === null ? 'failed' : opts.rounds > 1 ? `${fmt(x.median)} (${fmt(x.min)}–${fmt(x.max)})` : fmt(x.median);
  };
  const r = (n: number | null) => (n === null ? '-' : n.toFixed(2));
  const lines = [
    '| # | scenario | unit | wsgate | ws | ws+native | raw | wsgate/ws | wsgate/ws+native | wsgate/raw | ws/raw |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of summary) {
    const figures = ECHO_SERVERS.map((k) => cell(s, k)).join(' | ');
    const { wsgateVsWs, wsgateVsWsNative, wsgateVsRaw, wsVsRaw } = s.ratios;
    lines.push(
      `| ${s.scenario} | ${s.title} | ${s.unit}${s.lowerIsBetter ? ' (lower is better)' : ''} | ${figures} | ${r(wsgateVsWs)} | ${r(wsgateVsWsNative)} | ${r(wsgateVsRaw)} | ${r(wsVsRaw)} |`,
    );
  }
  return lines.join('\n');
}

/** Where the CPU went during the windows: is the server saturated, or the generator? */
function cpuTable(summary: Summary[]): string {
  const lines = [
    '| # | server | server CPU | generator CPU | other processes on server CPU / generator CPU |',
    '|---|---|---:|---:|---:|',
  ];
  for (const s of summary) {
    for (const [kind, v] of Object.entries(s.servers)) {
      if (!v || v.clientCpu === null) continue;
      lines.push(`| ${s.scenario} | ${kind} | ${pct(v.serverCpu).trim()} | ${pct(v.clientCpu).trim()} | ${pct(v.otherServerCpu).trim()} / ${pct(v.otherClientCpu).trim()} |`);
    }
  }
  return lines.join('\n');
}

function selected(s: Scenario): boolean {
  return opts.only === null || opts.only.includes(s.id) || opts.only.includes(s.id.replace(/[ab]$/, ''));
}

// ---- main -------------------------------------------------------------------------------------

async function selfCheck(): Promise<void> {
  // A raw server that flips one echoed byte must make the generator report an error.
  console.log('self-check: a corrupted echo must be caught, a clean one must pass');
  let ok = true;
  for (const s of SCENARIOS.filter((x) => ['1', '3', '8a'].includes(x.id))) {
    const bad = await runOne(0, s, 'raw', true);
    const good = await runOne(0, s, 'raw', false);
    const pass = bad.error !== undefined && good.error === undefined;
    ok &&= pass;
    console.log(`  scenario ${s.id}: corrupted -> ${bad.error ?? 'NOT CAUGHT'}; clean -> ${good.error ?? 'ok'}  ${pass ? 'PASS' : 'FAIL'}`);
  }
  // The plain ws server must not pick up bufferutil just because it is installed.
  const impl = await probeWs();
  const plain = impl.ws;
  const plainOk = typeof plain === 'object' && plain.bufferutil === 'not loaded';
  ok &&= plainOk;
  console.log(`  ws: ${describeImpl(plain)}  ${plainOk ? 'PASS' : 'FAIL'}`);
  console.log(`  ws+native: ${unavailable.get('ws+native') ?? describeImpl(impl['ws+native'])}`);
  if (!ok) process.exitCode = 1;
}

function bufferutilVersion(): string | null {
  try {
    return require(join(ROOT, 'node_modules', 'bufferutil', 'package.json')).version as string;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const wsVersion = require(join(ROOT, 'node_modules', 'ws', 'package.json')).version as string;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${osRelease()}`,
    node: process.version,
    ws: wsVersion,
    bufferutil: bufferutilVersion(),
    pinned: pin ? `server on CPU ${SERVER_CPU}, load generator on CPU ${CLIENT_CPU}` : 'no',
  };
  console.log(`wsgate bench: ${machine.cpu} x${machine.cores}, Node ${machine.node}, ws ${machine.ws}, bufferutil ${machine.bufferutil ?? 'not installed'}, pinning: ${machine.pinned}`);
  if (opts.selfCheck) return selfCheck();
  const wsImpl = await probeWs();
  for (const [kind, impl] of Object.entries(wsImpl)) console.log(`${kind.padEnd(9)}: ${describeImpl(impl)}`);
  for (const [kind, why] of unavailable) console.log(`${kind} will not run: ${why}`);
  console.log(
    `${opts.rounds} round(s), warmup ${opts.warmup} s, window ${opts.duration} s; servers ${opts.servers.join(', ')}` +
      (opts.profile ? '; CPU profiles of wsgate in bench/results/profiles' : ''),
  );

  const scenarios = SCENARIOS.filter(selected);
  const records: RunRecord[] = [];
  const started = Date.now();
  for (let round = 1; round <= opts.rounds; round++) {
    console.log(`\n-- round ${round}/${opts.rounds}`);
    for (const [si, s] of scenarios.entries()) {
      const kinds = s.servers.filter((k) => opts.servers.includes(k));
      // Rotate the order (A B C, B C A, ...) so drift hits every server alike.
      const shift = (round - 1 + si) % kinds.length;
      const order = [...kinds.slice(shift), ...kinds.slice(0, shift)];
      const here: RunRecord[] = [];
      for (const kind of order) {
        const rec = await runOne(round, s, kind);
        records.push(rec);
        here.push(rec);
        const heap =
          rec.memAfter && rec.memBefore && rec.result?.opened
            ? (rec.memAfter.heapUsed + rec.memAfter.external - rec.memBefore.heapUsed - rec.memBefore.external) / rec.result.opened / 1024
            : null;
        const cpuNote =
          rec.clientCpu !== null
            ? `   server cpu ${pct(rec.serverCpu)}, generator cpu ${pct(rec.clientCpu)}` +
              (rec.otherLoad ? `, others ${pct(rec.otherLoad.serverCpu)} /${pct(rec.otherLoad.clientCpu)}` : '')
            : heap !== null && !rec.error
              ? `   (JS heap + external ${fmt(heap)} KiB/conn)`
              : '';
        console.log(
          `  ${s.id.padEnd(3)} ${s.title.padEnd(52)} ${kind.padEnd(9)} ${rec.error ? `ERROR ${rec.error}` : fmt(rec.figure, s.unit).padStart(22)}${cpuNote}`,
        );
      }
      const get = (k: ServerKind) => here.find((r) => r.server === k)?.figure ?? null;
      const parts = [`wsgate/ws ${fmt(ratio(get('wsgate'), get('ws')))}`, `wsgate/raw ${fmt(ratio(get('wsgate'), get('raw')))}`];
      if (kinds.includes('ws+native')) parts.splice(1, 0, `wsgate/ws+native ${fmt(ratio(get('wsgate'), get('ws+native')))}`);
      console.log(`      ${parts.join('   ')}${s.lower ? '   (memory: lower is better)' : ''}`);
    }
  }

  const summary = summarize(records);
  const md = markdown(summary);
  console.log(`\n${opts.rounds > 1 ? 'Medians (min–max) over ' + opts.rounds + ' rounds' : 'One round'}, ${Math.round((Date.now() - started) / 1000)} s:\n`);
  console.log(md);
  const cpuMd = cpuTable(summary);
  console.log(`\nCPU during the measuring windows (medians; 100% = one core):\n\n${cpuMd}`);
  const bound = summary.flatMap((s) =>
    Object.entries(s.servers)
      .filter(([, v]) => v && v.clientCpu !== null && v.clientCpu > 0.9 && (v.serverCpu ?? 1) < 0.9)
      .map(([k, v]) => `${s.scenario}/${k} (generator ${pct(v!.clientCpu)}, server ${pct(v!.serverCpu)})`),
  );
  if (bound.length) console.log(`\nLikely limited by the load generator, not the server: ${bound.join(', ')}`);
  const failed = records.filter((r) => r.error);
  if (failed.length) console.log(`\n${failed.length} run(s) failed; see the ERROR lines above.`);

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = opts.out ?? join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const wsServers = { ...wsImpl, unavailable: Object.fromEntries(unavailable) };
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, wsServers, options: opts, summary, markdown: md, cpu: cpuMd, runs: records }, null, 2));
  console.log(`\nResults: ${file}`);
  if (failed.length) process.exitCode = 1;
}

main().then(
  () => killAll(),
  (err) => {
    console.error(err);
    killAll();
    process.exit(1);
  },
);
