// The Bun baseline: `bun bench/bun-server.js '<ServerConfig JSON>'`, started by run.ts like the
// Node servers. Bun.serve with its documented defaults (no option is tuned): echo, the
// 1-to-N publish, the chat room and the timer push. Prints {"ready": port} as one JSON line
// on stdout; run.ts reads CPU and memory from /proc and stops it with SIGTERM.
// Plain JavaScript, not TypeScript, so the Node build of bench/ never sees Bun's globals.
/* global Bun */
'use strict';
const config = JSON.parse(process.argv[2] || '{}');
const mode = config.mode;

// The timer-push message, built like common.ts's pushTemplate()/pushMessage() (kept in sync
// through the JSON config: run.ts passes the template's head and tail).
const push = config.push || null;
const clients = new Set();

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (srv.upgrade(req, { data: { path: url.pathname } })) return undefined;
    return new Response('wsgate bench (bun)\n');
  },
  websocket: {
    open(ws) {
      const path = ws.data.path;
      if (mode === 'broadcast' && path !== '/pub') ws.subscribe('bench');
      else if (mode === 'chat') ws.subscribe('room');
      else if (mode === 'push') clients.add(ws);
    },
    message(ws, message) {
      if (mode === 'echo') ws.send(message);
      else if (mode === 'broadcast') server.publish('bench', message);
      else if (mode === 'chat') server.publish('room', message);
      else if (mode === 'push') startPush();
    },
    close(ws) {
      clients.delete(ws);
    },
  },
});

// As in server.ts: the timer starts with the first client message (sent once all are open).
let timer = null;
function startPush() {
  if (timer !== null || !push) return;
  let seq = 0;
  timer = setInterval(() => {
    seq++;
    const msg = push.head + String(seq % 1e8).padStart(push.seqLen, '0') + push.tail;
    for (const ws of clients) ws.send(msg);
  }, push.interval);
}

process.on('SIGTERM', () => {
  server.stop(true);
  process.exit(0);
});
process.stdout.write(JSON.stringify({ ready: server.port, impl: null, runtime: `bun ${Bun.version}` }) + '\n');
