// A stand-in for the endpoint in the HTTP/2 transport tests: listenHttp2 with an onAttempt
// that runs the pure validateConnect, refuses or accepts, and echoes WebSocket messages
// through the Transport with a minimal frame loop (no codec yet). Commands in text
// messages drive the flow-control tests: "blast:N" sends N bytes in 16 KiB binary frames.
import http2, { type Http2SecureServer, type Http2Server, type SecureServerOptions } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type HandshakeOptions, validateConnect } from '../../src/core/handshake';
import { type Http2Attempt } from '../../src/io/http2-attempt';
import { type Http2Listening, listenHttp2, type ListenHttp2Options } from '../../src/io/http2-listen';
import type { Transport } from '../../src/transport/transport';
import { testCert } from '../helpers/tls';

export interface EchoConnection {
  transport: Transport;
  attempt: Http2Attempt;
  events: string[];
  /** Sum of the sizes of the frames we wrote. */
  bytesWritten: number;
}

export function serverFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const header = Buffer.alloc(2 + ext);
  header[0] = 0x80 | opcode;
  header[1] = ext === 0 ? len : ext === 2 ? 126 : 127;
  if (ext === 2) header.writeUInt16BE(len, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([header, payload]);
}

/** Unmasks complete client frames from `buf`; returns them and the rest. Null on an unmasked frame. */
function parseClientFrames(buf: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } | null {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const b1 = buf[at + 1];
    if ((b1 & 0x80) === 0) return null;
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    if (buf.length - p < 4 + len) break;
    const mask = buf.subarray(p, p + 4);
    const payload = Buffer.from(buf.subarray(p + 4, p + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    frames.push({ opcode: buf[at] & 0x0f, payload });
    at = p + 4 + len;
  }
  return { frames, rest: buf.subarray(at) };
}

export function runEcho(attempt: Http2Attempt, options: HandshakeOptions, connections: EchoConnection[]): void {
  const decision = validateConnect({ headers: attempt.headers }, options);
  if (!decision.ok) {
    attempt.refuse(decision.status, decision.headers, decision.reason);
    return;
  }
  const opened = attempt.accept(decision.headers);
  if (!opened) return;
  const { transport } = opened;
  const conn: EchoConnection = { transport, attempt, events: [], bytesWritten: 0 };
  connections.push(conn);
  let pending = Buffer.alloc(0);
  const send = (opcode: number, payload: Buffer) => {
    const frame = serverFrame(opcode, payload);
    conn.bytesWritten += frame.length;
    return transport.write(frame);
  };
  transport.bind({
    onData(chunk) {
      pending = Buffer.concat([pending, chunk]);
      const parsed = parseClientFrames(pending);
      if (parsed === null) {
        // RFC 6455 section 5.1: an unmasked client frame fails the connection with 1002.
        conn.events.push('protocol-error');
        send(0x8, Buffer.from([0x03, 0xea]));
        transport.end();
        pending = Buffer.alloc(0);
        return;
      }
      pending = Buffer.from(parsed.rest);
      for (const f of parsed.frames) {
        if (f.opcode === 0x1 && f.payload.toString().startsWith('blast:')) {
          let left = Number(f.payload.toString().slice(6));
          while (left > 0) {
            const n = Math.min(left, 16384);
            send(0x2, Buffer.alloc(n, 0x61));
            left -= n;
          }
          conn.events.push(`blasted needDrain=${transport.needDrain}`);
        } else if (f.opcode === 0x1 || f.opcode === 0x2) {
          send(f.opcode, f.payload);
        } else if (f.opcode === 0x9) {
          send(0xa, f.payload);
        } else if (f.opcode === 0x8) {
          conn.events.push('close-frame');
          send(0x8, f.payload);
          transport.end();
        }
      }
    },
    onEnd() {
      conn.events.push('end');
    },
    onClose() {
      conn.events.push('close');
    },
    onError(err) {
      conn.events.push(`error:${(err as NodeJS.ErrnoException).code ?? err.message}`);
    },
    onDrain() {
      conn.events.push('drain');
    },
  });
}

export interface EchoServer {
  server: Http2SecureServer | Http2Server;
  origin: string;
  port: number;
  connections: EchoConnection[];
  listening: Http2Listening;
  close(): Promise<void>;
}

export async function startEchoServer(
  options: {
    tls?: boolean;
    allowHTTP1?: boolean;
    requestListener?: Parameters<typeof http2.createSecureServer>[1];
    handshake?: HandshakeOptions;
    listen?: ListenHttp2Options;
    settings?: http2.Settings;
    /** Don't call listenHttp2 (a plain server, for comparison). */
    noListen?: boolean;
  } = {},
): Promise<EchoServer> {
  const tls = options.tls ?? true;
  const connections: EchoConnection[] = [];
  const base: SecureServerOptions = { settings: options.settings };
  const server = tls
    ? http2.createSecureServer({ ...base, ...testCert(), allowHTTP1: options.allowHTTP1 ?? false }, options.requestListener)
    : http2.createServer(base, options.requestListener);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listening = options.noListen
    ? { close() {} }
    : listenHttp2(server, (attempt) => runEcho(attempt, options.handshake ?? {}, connections), options.listen);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    connections,
    listening,
    close: async () => {
      listening.close();
      for (const s of sessions) s.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
