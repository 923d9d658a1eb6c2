// A WebSocket client over a raw TCP socket: it sends exactly the bytes a test makes,
// including malformed handshakes and frames, and exposes what the server sent back.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface ServerFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv?: number; // bits 4-6 of the first byte, e.g. 0x40 for RSV1
  masked?: boolean; // default true (clients must mask)
  mask?: Buffer;
  /** Override the length field (for lying about the length). */
  length?: number;
}

/** Encodes one client frame, masked by default. */
export function clientFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const masked = spec.masked ?? true;
  const length = spec.length ?? payload.length;
  const ext = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv ?? 0) | spec.opcode;
  header[1] = (masked ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) header.writeUInt16BE(length, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const mask = spec.mask ?? randomBytes(4);
  mask.copy(header, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([header, body]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

export function handshakeRequest(path = '/', extraHeaders: Record<string, string> = {}, port = 80): string {
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...extraHeaders,
  };
  let text = `GET ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  return `${text}\r\n`;
}

/** Parses unmasked server frames out of a byte stream; returns frames and leftover bytes. */
export function parseServerFrames(data: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let at = 0;
  for (;;) {
    if (data.length - at < 2) break;
    const b0 = data[at];
    const b1 = data[at + 1];
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (data.length - at < 4) break;
      len = data.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (data.length - at < 10) break;
      len = Number(data.readBigUInt64BE(p));
      p += 8;
    }
    if (b1 & 0x80) throw new Error('server frame is masked');
    if (data.length - p < len) break;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, payload: data.subarray(p, p + len) });
    at = p + len;
  }
  return { frames, rest: data.subarray(at) };
}

/** A raw connection: collects everything the server sends and notes when TCP ends. */
export class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  /** The response head (status line and headers) once it has arrived. */
  head = '';
  private frameBytes = Buffer.alloc(0);
  frames: ServerFrame[] = [];
  ended = false;
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      if (!this.head) {
        const end = this.received.indexOf('\r\n\r\n');
        if (end !== -1) {
          this.head = this.received.subarray(0, end).toString('latin1');
          this.frameBytes = Buffer.from(this.received.subarray(end + 4));
        }
      } else {
        this.frameBytes = Buffer.concat([this.frameBytes, chunk]);
      }
      if (this.head.startsWith('HTTP/1.1 101')) {
        const { frames, rest } = parseServerFrames(this.frameBytes);
        this.frames.push(...frames);
        this.frameBytes = Buffer.from(rest);
      }
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => {});
  }

  /** `allowHalfOpen`: keep our side open after the server's FIN (a peer that never closes). */
  static connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false }, () =>
        resolve(new RawClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  /** Connects and completes a valid handshake; resolves once the 101 has arrived. */
  static async open(
    port: number,
    path = '/',
    headers: Record<string, string> = {},
    options: { allowHalfOpen?: boolean } = {},
  ): Promise<RawClient> {
    const client = await RawClient.connect(port, options);
    client.write(handshakeRequest(path, headers, port));
    await client.waitFor(() => client.head !== '');
    if (!client.head.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${client.head.split('\r\n')[0]}`);
    return client;
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  send(spec: FrameSpec): void {
    this.socket.write(clientFrame(spec));
  }

  get statusLine(): string {
    return this.head.split('\r\n')[0];
  }

  /** The response body after the head (for rejected handshakes). */
  get body(): string {
    const end = this.received.indexOf('\r\n\r\n');
    return end === -1 ? '' : this.received.subarray(end + 4).toString();
  }

  header(name: string): string | undefined {
    const line = this.head
      .split('\r\n')
      .slice(1)
      .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    return line?.slice(name.length + 1).trim();
  }

  /** The close frame the server sent, if any: its code (1005 when empty) and reason. */
  get closeFrame(): { code: number; reason: string } | undefined {
    const f = this.frames.find((fr) => fr.opcode === 0x8);
    if (!f) return undefined;
    if (f.payload.length < 2) return { code: 1005, reason: '' };
    return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() };
  }

  waitFor(condition: () => boolean, ms = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error('RawClient.waitFor timed out'));
      }, ms);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  /** Waits until the server has ended the TCP connection. */
  waitClosed(ms = 5000): Promise<void> {
    return this.waitFor(() => this.ended || this.closed, ms);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
