// One benchmark server, run in its own process: `node server.js '<ServerConfig JSON>'`.
// Reports its port over IPC, then answers 'mem' and 'cpu' requests from the orchestrator.
import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join, resolve, sep } from 'node:path';
import type { Endpoint, WebSocket as GateSocket } from 'wsgate';
import type { WebSocket as WsSocket } from 'ws';
import { acceptKey, type MemReport, pushMessage, type ServerConfig, serverFrame, TEXT, type WsImpl } from './common';

const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
const isWs = config.kind === 'ws' || config.kind === 'ws+native';
const isGate = config.kind === 'wsgate' || config.kind === 'wsgate@base';
// wsgate@base (--baseline DIR) runs another build of wsgate, from that checkout's dist/, with
// the same server code, so before/after ratios come from one run.
const { attachWebSocket } = (
  config.kind === 'wsgate@base' ? require(join(resolve(config.baseline!), 'index.js')) : require('wsgate')
) as typeof import('wsgate');
// ws loads bufferutil by itself whenever it is installed; the plain `ws` kind must run
// without it, so these are set before ws is first required (below, not as an import).
// (On Node >= 18.14 ws validates UTF-8 with buffer.isUtf8 and never loads utf-8-validate.)
if (config.kind === 'ws') {
  process.env.WS_NO_BUFFER_UTIL = '1';
  process.env.WS_NO_UTF_8_VALIDATE = '1';
} else if (config.kind === 'ws+native') {
  delete process.env.WS_NO_BUFFER_UTIL;
  delete process.env.WS_NO_UTF_8_VALIDATE;
}
const noop = () => {};
const server = createServer((_req, res) => res.end('wsgate bench\n'));

/**
 * Timer push: every interval, the server iterates its connections and sends each the message.
 * The timer starts with the first message any client sends (the generator sends one once all
 * its connections are open), so opening 10,000 connections does not compete with the pushing.
 */
function pushTimer(sendAll: (msg: string) => void): () => void {
  const p = config.push!;
  let seq = 0;
  let timer: NodeJS.Timeout | null = null;
  return () => {
    timer ??= setInterval(() => sendAll(pushMessage(p, ++seq)), p.interval);
  };
}

if (isGate) {
  if (config.mode === 'broadcast') {
    const endpoint: Endpoint = attachWebSocket(
      server,
      (s, req) => {
        if (req.url === '/pub') s.on('message', (d, isBinary) => endpoint.publish('bench', d, { binary: isBinary }));
        else s.subscribe('bench');
      },
      { heartbeat: false },
    );
  } else if (config.mode === 'chat') {
    // A chat room: every member subscribes, every message is published to the room.
    const endpoint: Endpoint = attachWebSocket(
      server,
      (s) => {
        s.subscribe('room');
        s.on('message', (d, isBinary) => endpoint.publish('room', d, { binary: isBinary }));
      },
      { heartbeat: false },
    );
  } else if (config.mode === 'push') {
    const conns = new Set<GateSocket>();
    const start = pushTimer((msg) => {
      for (const s of conns) s.send(msg);
    });
    attachWebSocket(
      server,
      (s) => {
        conns.add(s);
        s.on('close', () => conns.delete(s));
        s.on('message', start);
      },
      { heartbeat: false },
    );
  } else {
    attachWebSocket(server, (s) => s.on('message', (d, isBinary) => s.send(d, { binary: isBinary })), {
      heartbeat: false,
      perMessageDeflate: config.mode === 'deflate',
    });
  }
} else if (isWs) {
  const { WebSocketServer } = require('ws') as typeof import('ws');
  const wss = new WebSocketServer({ server, perMessageDeflate: config.mode === 'deflate' });
  if (config.mode === 'broadcast') {
    wss.on('connection', (s: WsSocket, req: IncomingMessage) => {
      s.on('error', noop);
      if (req.url !== '/pub') return;
      // ws has no broadcast: the documented way is a loop over the clients.
      s.on('message', (d, isBinary) => {
        for (const c of wss.clients) if (c !== s && c.readyState === 1) c.send(d, { binary: isBinary });
      });
    });
  } else if (config.mode === 'chat') {
    // ws's README way for a room: keep its members in a Set, loop and send (sender included).
    const room = new Set<WsSocket>();
    wss.on('connection', (s: WsSocket) => {
      s.on('error', noop);
      room.add(s);
      s.on('close', () => room.delete(s));
      s.on('message', (d, isBinary) => {
        for (const c of room) if (c.readyState === 1) c.send(d, { binary: isBinary });
      });
    });
  } else if (config.mode === 'push') {
    const start = pushTimer((msg) => {
      for (const c of wss.clients) if (c.readyState === 1) c.send(msg);
    });
    wss.on('connection', (s: WsSocket) => {
      s.on('error', noop);
      s.on('message', start);
    });
  } else {
    wss.on('connection', (s: WsSocket) => {
      s.on('error', noop);
      s.on('message', (d, isBinary) => s.send(d, { binary: isBinary }));
    });
  }
} else {
  // The raw server as a minimal relay: for the timer push it is the floor a Node server can
  // reach (one write of one prebuilt frame per connection per tick); for chat, only under
  // --self-check, so the generator's verification can be shown to pass on good deliveries
  // and catch a bad byte.
  const members = new Set<Socket>();
  let relayed = 0;
  const deliver = (frame: Buffer) => {
    relayed++;
    for (const m of members) {
      // With `corrupt`, one delivery of the 50th chat message (5th push) gets a byte flipped.
      if (config.corrupt && relayed === (config.mode === 'push' ? 5 : 50) && m === members.values().next().value) {
        const bad = Buffer.from(frame);
        bad[bad.length - 3] ^= 0x01;
        m.write(bad);
      } else m.write(frame);
    }
  };
  if (config.mode === 'push') {
    let seq = 0;
    setInterval(() => {
      if (members.size > 0) deliver(serverFrame(TEXT, Buffer.from(pushMessage(config.push!, ++seq))));
    }, config.push!.interval);
  }
  const rawRelay = (socket: Socket, head: Buffer) => {
    members.add(socket);
    socket.on('close', () => members.delete(socket));
    let buf = head;
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // Client frames: FIN, masked, payload under 64 KiB (all this generator sends here).
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = buf.readUInt16BE(2);
          at = 4;
        }
        if (buf.length < at + 4 + len) break;
        const payload = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i++) payload[i] = buf[at + 4 + i] ^ buf[at + (i & 3)];
        if (config.mode === 'chat') deliver(serverFrame(buf[0] & 0x0f, payload));
        buf = buf.subarray(at + 4 + len);
      }
    });
  };
  // The ceiling: answer the 101, then echo bytes with no WebSocket work at all.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', noop);
    const key = String(req.headers['sec-websocket-key'] ?? '');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    );
    socket.setNoDelay(true);
    if (config.mode === 'chat' || config.mode === 'push') return rawRelay(socket, head);
    if (head.length > 0) socket.write(head);
    if (!config.corrupt) {
      socket.pipe(socket);
      return;
    }
    // Self-check mode: flip one byte somewhere past the first 4 KiB echoed.
    let seen = 0;
    let flipped = false;
    socket.on('data', (chunk: Buffer) => {
      if (!flipped && seen + chunk.length > 4096) {
        chunk[chunk.length >> 1] ^= 0x01;
        flipped = true;
      }
      seen += chunk.length;
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  });
}

function mem(): MemReport {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

process.on('message', (msg: { id: number; cmd: string }) => {
  if (msg.cmd === 'mem') process.send!({ id: msg.id, mem: mem() });
  else if (msg.cmd === 'cpu') {
    const u = process.cpuUsage();
    process.send!({ id: msg.id, cpu: u.user + u.system });
  } else if (msg.cmd === 'exit') process.exit(0);
});
// If the orchestrator goes away, so do we. Exiting normally lets --cpu-prof write its profile.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

/** What ws actually loaded in this process: bufferutil's compiled addon shows up in require.cache. */
function wsImpl(): WsImpl {
  let dir: string | null = null;
  try {
    dir = dirname(require.resolve('bufferutil')) + sep;
  } catch {
    // not installed
  }
  const loaded = dir === null ? [] : Object.keys(require.cache).filter((f) => f.startsWith(dir));
  const env = `WS_NO_BUFFER_UTIL=${process.env.WS_NO_BUFFER_UTIL ?? '(unset)'}, WS_NO_UTF_8_VALIDATE=${process.env.WS_NO_UTF_8_VALIDATE ?? '(unset)'}`;
  return {
    bufferutil: loaded.some((f) => f.endsWith('.node')) ? 'native' : loaded.length > 0 ? 'js fallback' : 'not loaded',
    installed: dir !== null,
    env,
  };
}

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.send!({ ready: port, impl: isWs ? wsImpl() : null });
});
