// examples/metrics: open and close real clients, make refused handshakes, scrape /metrics
// on the same port and check the values.
import type { AddressInfo } from 'node:net';
import WsClient from 'ws';
import { createMetricsApp } from '../../examples/metrics/server';
import { connect, until } from './run-example';

let metrics: ReturnType<typeof createMetricsApp>;
let port: number;
const clients: WsClient[] = [];

beforeEach(async () => {
  metrics = createMetricsApp();
  await new Promise<void>((resolve) => metrics.server.listen(0, '127.0.0.1', resolve));
  port = (metrics.server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await metrics.close();
});

/** Scrapes /metrics: sample name with its labels, as printed (`name{a="b"}`), to value. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function open(): Promise<WsClient> {
  const client = await connect(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
  clients.push(client);
  return client;
}

function refusedWith(options: WsClient.ClientOptions): Promise<number> {
  return connect(`ws://127.0.0.1:${port}/ws`, options).then(
    (c) => {
      c.terminate();
      throw new Error('accepted');
    },
    (err: { status?: number }) => err.status ?? 0,
  );
}

test('open connections by transport, messages and bytes in and out', async () => {
  const a = await open();
  const b = await open();
  let echoes = 0;
  a.on('message', () => echoes++);
  a.send('hello');
  a.send('world');
  await until(() => echoes === 2);

  const m = await scrape();
  expect(m.get('wsgate_connections{transport="http/1.1"}')).toBe(2);
  expect(m.get('wsgate_connections{transport="h2"}')).toBe(0);
  expect(m.get('wsgate_handshakes_accepted_total')).toBe(2);
  expect(m.get('wsgate_messages_total{direction="in"}')).toBe(2);
  expect(m.get('wsgate_messages_total{direction="out"}')).toBe(2);
  // Masked 5-byte text frames in (2 + 4 + 5 bytes), unmasked echoes out (2 + 5).
  expect(m.get('wsgate_bytes_total{direction="in"}')).toBe(22);
  expect(m.get('wsgate_bytes_total{direction="out"}')).toBe(14);
  expect(m.get('process_cpu_seconds_total')).toEqual(expect.any(Number)); // the default metrics are there too

  // A second scrape counts nothing twice.
  b.send('!');
  await until(() => metrics.endpoint.stats().messagesOut === 3);
  const again = await scrape();
  expect(again.get('wsgate_messages_total{direction="in"}')).toBe(3);
  expect(again.get('wsgate_messages_total{direction="out"}')).toBe(3);
  expect(again.get('wsgate_handshakes_accepted_total')).toBe(2);
});

test('refused handshakes by status and cause', async () => {
  expect(await refusedWith({ origin: 'http://evil.example' })).toBe(403);
  expect(await refusedWith({ origin: 'http://evil.example' })).toBe(403);
  const badVersion = await refusedWith({ protocolVersion: 8 });
  expect(badVersion).toBeGreaterThanOrEqual(400);

  const m = await scrape();
  expect(m.get('wsgate_handshakes_refused_total{status="403",cause="origin"}')).toBe(2);
  expect(m.get(`wsgate_handshakes_refused_total{status="${badVersion}",cause="handshake"}`)).toBe(1);
  expect(m.get('wsgate_handshakes_accepted_total')).toBe(0);
  expect(m.get('wsgate_connections{transport="http/1.1"}')).toBe(0);
});

test('closes by code and the histogram of connection durations', async () => {
  const a = await open();
  const b = await open();
  const c = await open();
  await new Promise((r) => setTimeout(r, 120));
  a.close(1000);
  b.close(4001, 'done');
  c.terminate();
  await until(() => metrics.endpoint.stats().connections === 0);

  const m = await scrape();
  expect(m.get('wsgate_closes_total{code="1000"}')).toBe(1);
  expect(m.get('wsgate_closes_total{code="4001"}')).toBe(1);
  expect(m.get('wsgate_closes_total{code="1006"}')).toBe(1);
  expect(m.get('wsgate_connection_duration_seconds_count')).toBe(3);
  const sum = m.get('wsgate_connection_duration_seconds_sum')!;
  expect(sum).toBeGreaterThanOrEqual(0.3);
  expect(sum).toBeLessThan(15);
  expect(m.get('wsgate_connection_duration_seconds_bucket{le="0.1"}')).toBe(0);
  expect(m.get('wsgate_connection_duration_seconds_bucket{le="10"}')).toBe(3);
  expect(m.get('wsgate_connection_duration_seconds_bucket{le="+Inf"}')).toBe(3);
  expect(m.get('wsgate_connections{transport="http/1.1"}')).toBe(0);
});
