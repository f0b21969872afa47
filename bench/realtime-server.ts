import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { createApp } from '../src/bootstrap.js';
import { loadAppConfig } from '../src/common/config/app-config.js';
import { resolveMongoStore } from '../src/database/store/mongo-store.js';

/**
 * The server side of bench:realtime, in its own process so its memory can be measured alone.
 * argv[2] = "app": the real application on the embedded store; "bare": a plain Socket.IO server
 * whose room broadcasts are the baseline. Talks to the parent over IPC.
 */
type Command = { type: 'memory' } | { type: 'broadcast'; room: string; payload: unknown } | { type: 'stop' };

async function main(): Promise<void> {
  const mode = process.argv[2];
  let stop: () => Promise<void>;
  let port: number;
  let io: Server | undefined;
  if (mode === 'app') {
    const store = await resolveMongoStore({ persistence: 'memory' });
    const config = loadAppConfig({
      NODE_ENV: 'production',
      JWT_SECRET: process.env.BENCH_SECRET!,
      LOG_LEVEL: 'error',
      WEBSOCKET_MAX_CONNECTIONS_PER_USER: '1000',
      CHAT_RATE_LIMIT_PER_MINUTE: '100000',
    });
    const app = await createApp({ config, database: { uri: store.uri, dbName: 'wms_chat_bench_realtime' } });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    stop = async () => {
      await app.close();
      await store.stop();
    };
  } else {
    const http = createServer();
    io = new Server(http, { path: '/ws' });
    io.on('connection', (socket) => void socket.join(String((socket.handshake.auth as { room?: string }).room)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
    stop = async () => {
      await io!.close();
    };
  }
  process.on('message', (command: Command) => {
    if (command.type === 'memory') {
      global.gc?.();
      process.send!({ type: 'memory', rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
    } else if (command.type === 'broadcast') {
      io?.to(command.room).emit('message:created', command.payload);
    } else {
      void stop().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', port });
}

void main();
