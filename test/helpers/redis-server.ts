// A real redis-server (Debian's, /usr/bin/redis-server) for tests: 127.0.0.1, a free port,
// a temporary directory, no persistence. Stopped by PID. When redis-server is missing,
// describeRedis() fails the suite under CI and skips it with a message elsewhere.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
export const haveRedis = fs.existsSync(REDIS_SERVER);

/**
 * describe() when redis-server exists; otherwise under CI one failing test, elsewhere a
 * skipped suite and a warning naming the file.
 */
export function describeRedis(name: string, fn: () => void): void {
  if (haveRedis) {
    describe(name, fn);
  } else if (process.env.CI) {
    test(`redis-server is installed (${name})`, () => {
      throw new Error(`${REDIS_SERVER} is missing; .ci/run installs it with apt-get install -y redis-server`);
    });
  } else {
    console.warn(`${name}: SKIPPED, ${REDIS_SERVER} not found (apt-get install redis-server to run it)`);
    describe.skip(name, fn);
  }
}

export interface RedisServer {
  port: number;
  url: string;
  /** PID of the running server (changes on restart). */
  readonly pid: number;
  /** SIGTERM, waits for exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL, waits for exit: an outage as abrupt as a crash. */
  kill(): Promise<void>;
  /** Starts again on the same port (after stop/kill). */
  restart(): Promise<void>;
  /** A PING-style command over a fresh TCP connection; resolves with the raw RESP reply. */
  command(...args: string[]): Promise<string>;
}

/** A port the kernel just handed out and released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function encode(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** Sends one command and returns the raw reply once a complete line-terminated reply arrived. */
export function rawCommand(port: number, args: string[], ms = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis on ${port}: no reply to ${args[0]} in ${ms} ms`));
    }, ms);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf += d;
      // Simple replies suffice for the helper's own use (PING, SHUTDOWN); tests use node-redis.
      if (buf.endsWith('\r\n')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(buf);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    });
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  // Last resort if a test file forgot stop(): never leave a redis-server behind.
  for (const child of running) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
});

export async function startRedis(options: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-redis-'));
  let child: ChildProcess | null = null;
  let port = options.port ?? 0;
  let log = '';

  async function launch(): Promise<void> {
    // A port may be taken between freePort() and bind: try a few.
    fs.mkdirSync(dir, { recursive: true });
    for (let attempt = 0; attempt < 5; attempt++) {
      const p = port || (await freePort());
      const c = spawn(
        REDIS_SERVER,
        [
          '--port', String(p),
          '--bind', '127.0.0.1',
          '--dir', dir,
          '--save', '',
          '--appendonly', 'no',
          '--daemonize', 'no',
          '--protected-mode', 'yes',
          '--loglevel', 'warning',
          ...(options.args ?? []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.add(c);
      c.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
      c.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      const end = Date.now() + 5000;
      let up = false;
      while (Date.now() < end && c.exitCode === null) {
        try {
          if ((await rawCommand(p, ['PING'], 300)).startsWith('+PONG')) {
            up = true;
            break;
          }
        } catch {
          // not yet listening
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      if (up) {
        child = c;
        port = p;
        return;
      }
      if (c.exitCode === null) c.kill('SIGKILL');
      await exited;
      running.delete(c);
      // A fixed port (restart) is retried after a pause; otherwise another free port is tried.
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`redis-server did not start: ${log}`);
  }

  async function signal(sig: NodeJS.Signals): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    process.kill(c.pid!, sig);
    const timer = setTimeout(() => c.exitCode === null && process.kill(c.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    running.delete(c);
    child = null;
  }

  await launch();
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? 0;
    },
    stop: async () => {
      await signal('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
    kill: () => signal('SIGKILL'),
    restart: async () => {
      if (child) throw new Error('redis-server is still running');
      await launch();
    },
    command: (...args) => rawCommand(port, args),
  };
  return server;
}
