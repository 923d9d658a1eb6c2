// Runs the demo: `npm start`, then open http://localhost:8080 (PORT overrides the port).
import type { AddressInfo } from 'node:net';
import { createDemo } from './app';

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got "${process.env.PORT}"`);
  process.exit(1);
}

const demo = createDemo();
demo.server.on('error', (err) => {
  console.error(`wsgate demo: cannot listen on port ${port}: ${err.message}`);
  process.exit(1);
});
demo.server.listen(port, () => {
  const actual = (demo.server.address() as AddressInfo).port;
  console.log(`wsgate demo: open http://localhost:${actual}/ (WebSocket at ws://localhost:${actual}/ws)`);
});

const stop = () => {
  demo.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
