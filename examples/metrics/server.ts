// Prometheus metrics for a wsgate endpoint, on the same Express app at /metrics:
// totals from endpoint.stats() (read when Prometheus scrapes), and per-event figures
// (refusals by status and cause, closes by code, connection durations) from wsgate's
// diagnostics channels.
//
//   npm run build && npx ts-node --transpile-only examples/metrics/server.ts
//   curl http://localhost:8080/metrics
import diagnostics_channel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  attachWebSocket,
  channels,
  type Endpoint,
  type HandshakeRefusedMessage,
  type SocketCloseMessage,
} from 'wsgate';

/** Registers the wsgate metrics of `endpoint` on `registry`; returns a function that stops the channel subscriptions. */
export function wsgateMetrics(endpoint: Endpoint, registry: Registry): () => void {
  const registers = [registry];

  new Gauge({
    name: 'wsgate_connections',
    help: 'Open WebSocket connections',
    labelNames: ['transport'],
    registers,
    collect() {
      for (const [transport, n] of Object.entries(endpoint.stats().byTransport)) this.set({ transport }, n);
    },
  });

  // Totals the endpoint counts itself, brought into prom-client counters as they grow.
  const totals = (name: string, help: string, read: (s: ReturnType<Endpoint['stats']>) => Record<string, number>) => {
    const last = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: ['direction'],
      registers,
      collect() {
        for (const [direction, value] of Object.entries(read(endpoint.stats()))) {
          this.inc({ direction }, value - (last.get(direction) ?? 0));
          last.set(direction, value);
        }
      },
    });
  };
  totals('wsgate_messages_total', 'WebSocket messages', (s) => ({ in: s.messagesIn, out: s.messagesOut }));
  totals('wsgate_bytes_total', 'WebSocket bytes, frame headers included', (s) => ({ in: s.bytesIn, out: s.bytesOut }));

  let acceptedBefore = 0;
  new Counter({
    name: 'wsgate_handshakes_accepted_total',
    help: 'Accepted WebSocket handshakes',
    registers,
    collect() {
      const accepted = endpoint.stats().accepted;
      this.inc(accepted - acceptedBefore);
      acceptedBefore = accepted;
    },
  });

  const refused = new Counter({
    name: 'wsgate_handshakes_refused_total',
    help: 'Refused WebSocket handshakes',
    labelNames: ['status', 'cause'],
    registers,
  });
  const closed = new Counter({
    name: 'wsgate_closes_total',
    help: 'Closed WebSocket connections, by close code',
    labelNames: ['code'],
    registers,
  });
  const duration = new Histogram({
    name: 'wsgate_connection_duration_seconds',
    help: 'How long WebSocket connections stayed open',
    buckets: [0.1, 1, 10, 60, 600, 3600],
    registers,
  });

  // The channels carry events of every endpoint in the process; this app has one.
  const onRefused = (message: unknown) => {
    const { status, cause } = message as HandshakeRefusedMessage;
    refused.inc({ status, cause });
  };
  const onClose = (message: unknown) => {
    const { code, durationMs } = message as SocketCloseMessage;
    closed.inc({ code });
    duration.observe(durationMs / 1000);
  };
  diagnostics_channel.subscribe(channels.handshakeRefused, onRefused);
  diagnostics_channel.subscribe(channels.socketClose, onClose);
  return () => {
    diagnostics_channel.unsubscribe(channels.handshakeRefused, onRefused);
    diagnostics_channel.unsubscribe(channels.socketClose, onClose);
  };
}

export function createMetricsApp() {
  const app = express();
  const server = http.createServer(app);
  // An echo endpoint to watch.
  const endpoint = attachWebSocket(server, (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  }, { path: '/ws' });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const unsubscribe = wsgateMetrics(endpoint, registry);

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  });

  async function close(): Promise<void> {
    server.close();
    await endpoint.close();
    server.closeAllConnections();
    unsubscribe();
  }

  return { app, server, endpoint, registry, close };
}

if (require.main === module) {
  const { server, close } = createMetricsApp();
  server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? 'localhost', () => {
    const { address, port } = server.address() as AddressInfo;
    console.log(`metrics example listening on http://${address}:${port} (WebSocket /ws, metrics /metrics)`);
  });
  process.once('SIGTERM', () => void close().then(() => process.exit(0)));
}
