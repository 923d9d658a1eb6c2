// Shared by the security tests: raw request heads, one-shot exchanges, memory figures.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gcFn = vm.runInNewContext('gc') as () => void;

export function gc(): void {
  gcFn();
  gcFn();
}

/** Memory held after a full GC: JS heap and Buffers (arrayBuffers), in bytes. */
export function held(): { heap: number; buffers: number; rss: number } {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers, rss: m.rss };
}

export function handshakeLines(path = '/', port = 80, extra: string[] = []): string[] {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ];
}

export const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

export interface Answer {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: string;
  raw: Buffer;
  /** The server ended the connection (true for every refusal). */
  closed: boolean;
}

/** Parses an HTTP/1.1 response head; null when the bytes are not one. */
export function parseAnswer(raw: Buffer, closed: boolean): Answer | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(lines[0]);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(m[1]), statusLine: lines[0], headers, body: raw.subarray(end + 4).toString(), raw, closed };
}

/**
 * Sends bytes on a fresh connection and collects the answer: for a 101, as soon as the head
 * is here (the socket is then destroyed); otherwise until the server closes.
 */
export function exchange(port: number, bytes: string | Buffer, ms = 5000): Promise<{ raw: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let raw = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => {
      raw = Buffer.concat([raw, chunk]);
      if (raw.subarray(0, 12).toString('latin1') === 'HTTP/1.1 101' && raw.includes('\r\n\r\n')) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

export async function ask(port: number, bytes: string | Buffer, ms = 5000): Promise<Answer> {
  const { raw, closed } = await exchange(port, bytes, ms);
  const answer = parseAnswer(raw, closed);
  if (!answer) throw new Error(`not an HTTP response: ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`);
  return answer;
}

/** CPU time (user + system, ms) spent by this process while `fn` runs. */
export async function cpuMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

export const nodeMajor = Number(process.versions.node.split('.')[0]);
