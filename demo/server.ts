// Runs the demo: `npm start`, then open http://localhost:8080 (PORT overrides the port).
// DEMO_HTTPS=1 (or `npm run start:h2`) serves the same app over HTTPS with HTTP/2
// (http2.createSecureServer, allowHTTP1) and a self-signed certificate made at start.
import type { AddressInfo, Server } from 'node:net';
import { createDemo } from './app';
import { demoCert } from './cert';

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(1);
}

const https = process.env.DEMO_HTTPS === '1' || process.env.DEMO_HTTPS === 'true';
let demo: { server: Server; close(): Promise<void> };
if (https) {
  const cert = demoCert();
  console.log(`wsgate demo: ${cert.fresh ? 'made a' : 'using the cached'} self-signed certificate in ${cert.dir} (your browser will warn about it)`);
  demo = createDemo({ tls: cert });
} else {
  demo = createDemo();
}
demo.server.on('error', (err) => {
  console.error(`wsgate demo: cannot listen on port ${port}: ${err.message}`);
  process.exit(1);
});
demo.server.listen(port, () => {
  const actual = (demo.server.address() as AddressInfo).port;
  const [web, ws] = https ? ['https', 'wss'] : ['http', 'ws'];
  const how = https ? ', HTTP/2 with HTTP/1.1 fallback' : '';
  console.log(`wsgate demo: open ${web}://localhost:${actual}/ (WebSocket at ${ws}://localhost:${actual}/ws${how})`);
});

const stop = () => {
  demo.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
