// Runs an example as its own process (ts-node, 'wsgate' mapped to the source) and waits for
// the line it prints once listening. Stopped by PID; every process started is killed at exit.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import WsClient from 'ws';

const root = path.resolve(__dirname, '../..');
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
});

export interface ExampleProcess {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  exited: Promise<number | string>;
  /** SIGKILL if still running, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `examples/<file>` with these environment variables; resolves once it printed `listening on http(s)://host:port`. */
export function runExample(file: string, env: Record<string, string> = {}, ms = 20000): Promise<ExampleProcess> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', path.join(__dirname, 'use-source.js'), path.join(root, 'examples', file)],
    { cwd: root, env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let out = '';
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  const handle = (port: number): ExampleProcess => ({
    child,
    port,
    output: () => out,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.kill(child.pid!, 'SIGKILL');
      reject(new Error(`${file} did not start in ${ms} ms:\n${out}`));
    }, ms);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on https?:\/\/[^\s:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(handle(Number(m[1])));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (out += d));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}) before listening:\n${out}`));
    });
  });
}

/** An open `ws` client, or a rejection with the HTTP status of a refused handshake. */
export function connect(url: string, options: WsClient.ClientOptions = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(url, options);
    client.once('open', () => resolve(client));
    client.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode }));
    });
    client.once('error', reject);
  });
}

/** Collects a client's text messages. */
export function inbox(client: WsClient): string[] {
  const messages: string[] = [];
  client.on('message', (data) => messages.push(data.toString()));
  return messages;
}

export async function until(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
