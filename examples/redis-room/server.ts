// One room, several processes: each instance serves /room/:room and shares its topics
// through Redis, so a message sent to one instance reaches the room's sockets on all of them.
//
//   npm run build
//   REDIS_URL=redis://127.0.0.1:6379 PORT=8081 NAME=a npx ts-node --transpile-only examples/redis-room/server.ts
//   REDIS_URL=redis://127.0.0.1:6379 PORT=8082 NAME=b npx ts-node --transpile-only examples/redis-room/server.ts
//   (then a client on ws://localhost:8081/room/lobby and one on ws://localhost:8082/room/lobby)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachWebSocket } from 'wsgate';
import { redisTopics } from 'wsgate/redis';

export async function createRoomServer(options: { redisUrl: string; name: string }) {
  const topics = await redisTopics({ url: options.redisUrl }); // rejects if Redis is not there
  const server = http.createServer((_req, res) => res.end(`instance ${options.name}\n`));
  const endpoint = attachWebSocket(
    server,
    (socket, req) => {
      const room = `room:${req.params.room}`;
      socket.subscribe(room);
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        // To the room's other sockets here, and through Redis to those on other instances.
        endpoint.publish(room, JSON.stringify({ via: options.name, text: String(data) }), { except: socket });
      });
    },
    { path: '/room/:room', topics },
  );

  async function shutdown(): Promise<void> {
    server.close();
    await endpoint.close({ code: 1001, reason: 'server shutting down' }); // also closes wsgate's Redis connections
    server.closeAllConnections();
  }

  return { server, endpoint, topics, shutdown };
}

if (require.main === module) {
  const name = process.env.NAME ?? String(process.pid);
  createRoomServer({ redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', name }).then(
    (room) => {
      room.server.listen(Number(process.env.PORT ?? 8081), process.env.HOST ?? 'localhost', () => {
        const { address, port } = room.server.address() as AddressInfo;
        console.log(`room instance ${name} listening on http://${address}:${port}`);
      });
      process.once('SIGTERM', () => void room.shutdown().then(() => process.exit(0)));
    },
    (err) => {
      console.error(`cannot start: ${err.message}`);
      process.exit(1);
    },
  );
}
