import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { WebSocket, WebSocketServer } from 'ws';
import { createApp } from '../src/bootstrap.js';
import { loadAppConfig } from '../src/common/config/app-config.js';
import { resolveMongoStore } from '../src/database/store/mongo-store.js';

/**
 * The server side of bench:realtime, in its own process so its memory can be measured alone.
 * argv[2] = "app": the real application on the embedded store; "bare": a plain Socket.IO server
 * whose room broadcasts are the baseline; "bare-ws": a plain `ws` server with rooms, the baseline
 * of the app's plain WebSocket. Talks to the parent over IPC.
 */
type Command = { type: 'memory' } | { type: 'broadcast'; room: string; payload: unknown } | { type: 'stop' };

async function main(): Promise<void> {
  const mode = process.argv[2];
  let stop: () => Promise<void>;
  let port: number;
  let io: Server | undefined;
  let broadcast = (room: string, payload: unknown) => void io?.to(room).emit('message:created', payload);
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
  } else if (mode === 'bare-ws') {
    const http = createServer();
    const server = new WebSocketServer({ server: http, path: '/ws' });
    const rooms = new Map<string, Set<WebSocket>>();
    server.on('connection', (socket, request) => {
      const room = new URL(request.url ?? '/', 'http://localhost').searchParams.get('room') ?? '';
      const members = rooms.get(room) ?? new Set<WebSocket>();
      members.add(socket);
      rooms.set(room, members);
      socket.on('close', () => members.delete(socket));
    });
    broadcast = (room, payload) => {
      const frame = JSON.stringify({ event: 'message:created', data: payload });
      for (const socket of rooms.get(room) ?? []) socket.send(frame);
    };
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
    stop = () =>
      new Promise<void>((resolve) => {
        server.close();
        http.close(() => resolve());
      });
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
      const usage = process.memoryUsage();
      process.send!({ type: 'memory', rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external });
    } else if (command.type === 'broadcast') {
      broadcast(command.room, command.payload);
    } else {
      void stop().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', port });
}

void main();
