// A throwaway redis-server for the Redis fan-out benchmark, adapted from
// test/helpers/redis-server.ts (which the bench project cannot compile: it uses jest's
// globals and lives outside bench/): 127.0.0.1, a free port, a temporary directory, no
// persistence, stopped by PID.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface BenchRedis {
  url: string;
  pid: number;
  /** SIGTERM by PID, SIGKILL after 5 s; removes the temporary directory. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** True when a PING on a fresh connection gets +PONG within `ms`. */
function pong(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d) => done(d.toString('latin1').startsWith('+PONG')));
    sock.on('error', () => done(false));
  });
}

export async function startBenchRedis(): Promise<BenchRedis> {
  if (!fs.existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} not found (apt-get install redis-server)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgate-bench-redis-'));
  let log = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
        '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
    child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const end = Date.now() + 5000;
    while (Date.now() < end && child.exitCode === null && !(await pong(port, 300))) await new Promise((r) => setTimeout(r, 25));
    const pid = child.pid!;
    if (child.exitCode === null && (await pong(port, 300))) {
      return {
        url: `redis://127.0.0.1:${port}`,
        pid,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            process.kill(pid, 'SIGTERM');
            const timer = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
          }
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (child.exitCode === null) process.kill(pid, 'SIGKILL');
    await exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start: ${log}`);
}
