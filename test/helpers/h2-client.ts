// A WebSocket client over HTTP/2 (RFC 8441) on Node's http2.connect: it sends an extended
// CONNECT, then exactly the WebSocket frames a test makes (masked or not, well formed or
// not) as DATA on the stream, and collects what the server sends back.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { randomBytes } from 'node:crypto';
import { clientFrame, type FrameSpec, parseServerFrames, type ServerFrame } from './raw-client';

export { clientFrame, closePayload, type FrameSpec, type ServerFrame } from './raw-client';

export interface SessionOptions {
  /** The server's certificate, to trust it (https only). */
  ca?: string;
  settings?: http2.Settings;
  /** Stream window we advertise (SETTINGS_INITIAL_WINDOW_SIZE); small values make stalls quick. */
  initialWindowSize?: number;
}

/** A connected session whose first SETTINGS from the server have arrived. */
export async function connectSession(origin: string, options: SessionOptions = {}): Promise<{
  session: ClientHttp2Session;
  /** The server's settings as they were in its first SETTINGS frame. */
  firstSettings: http2.Settings;
}> {
  const session = http2.connect(origin, {
    ca: options.ca,
    rejectUnauthorized: options.ca !== undefined,
    servername: origin.startsWith('https:') ? 'localhost' : undefined,
    settings: { ...(options.settings ?? {}), ...(options.initialWindowSize !== undefined ? { initialWindowSize: options.initialWindowSize } : {}) },
  });
  session.on('error', () => {});
  const firstSettings = await new Promise<http2.Settings>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SETTINGS from the server')), 5000);
    session.once('remoteSettings', (settings) => {
      clearTimeout(timer);
      resolve({ ...settings });
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return { session, firstSettings };
}

export function connectHeaders(path: string, extra: Record<string, string> = {}): http2.OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': path,
    'sec-websocket-version': '13',
    ...extra,
  };
}

/** One WebSocket on one stream of a session. */
export class H2WsClient {
  readonly stream: ClientHttp2Stream;
  response: IncomingHttpHeaders | undefined;
  /** All DATA received (for refusals: the body). */
  received = Buffer.alloc(0);
  frames: ServerFrame[] = [];
  ended = false;
  closed = false;
  rstCode: number | undefined;
  private frameBytes = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(stream: ClientHttp2Stream) {
    this.stream = stream;
    stream.on('response', (headers) => {
      this.response = headers;
      this.notify();
    });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('close', () => {
      this.closed = true;
      this.rstCode = stream.rstCode;
      this.notify();
    });
    stream.on('error', () => {});
  }

  /** Sends the extended CONNECT; resolves once the response HEADERS are in. */
  static async request(
    session: ClientHttp2Session,
    path = '/',
    headers: Record<string, string> = {},
    options: { paused?: boolean } = {},
  ): Promise<H2WsClient> {
    const stream = session.request(connectHeaders(path, headers), { endStream: false });
    const client = new H2WsClient(stream);
    if (options.paused) stream.pause();
    await client.waitFor(() => client.response !== undefined || client.closed);
    return client;
  }

  /** A CONNECT that must be accepted: 200, and the accept key when `key` is sent. */
  static async open(session: ClientHttp2Session, path = '/', headers: Record<string, string> = {}, options: { paused?: boolean } = {}): Promise<H2WsClient> {
    const client = await H2WsClient.request(session, path, headers, options);
    if (client.status !== 200) throw new Error(`extended CONNECT refused: ${client.status} ${client.body}`);
    return client;
  }

  /** A fresh Sec-WebSocket-Key (RFC 8441 does not need one; undici sends one). */
  static key(): string {
    return randomBytes(16).toString('base64');
  }

  get status(): number | undefined {
    const s = this.response?.[':status'];
    return s === undefined ? undefined : Number(s);
  }

  get body(): string {
    return this.received.toString();
  }

  get closeFrame(): { code: number; reason: string } | undefined {
    const f = this.frames.find((fr) => fr.opcode === 0x8);
    if (!f) return undefined;
    if (f.payload.length < 2) return { code: 1005, reason: '' };
    return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() };
  }

  send(spec: FrameSpec): boolean {
    return this.stream.write(clientFrame(spec));
  }

  write(bytes: Buffer): boolean {
    return this.stream.write(bytes);
  }

  /** Our END_STREAM. */
  end(): void {
    this.stream.end();
  }

  /** RST_STREAM with this code (CANCEL by default). */
  reset(code = http2.constants.NGHTTP2_CANCEL): void {
    this.stream.close(code);
  }

  waitFor(condition: () => boolean, ms = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error('H2WsClient.waitFor timed out'));
      }, ms);
      this.waiters.push(check);
    });
  }

  waitClosed(ms = 5000): Promise<void> {
    return this.waitFor(() => this.closed, ms);
  }

  private onData(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.status === 200) {
      this.frameBytes = Buffer.concat([this.frameBytes, chunk]);
      const { frames, rest } = parseServerFrames(this.frameBytes);
      this.frames.push(...frames);
      this.frameBytes = Buffer.from(rest);
    }
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
