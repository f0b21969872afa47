import { io, type Socket } from 'socket.io-client';

const recorded = new WeakMap<Socket, [string, unknown][]>();

/** A socket.io-client connection to the app under test; resolves once connected or rejects with the connect_error message. */
export function connectSocket(
  port: number,
  namespace: string,
  auth: Record<string, unknown>,
  extra: { headers?: Record<string, string>; query?: Record<string, string> } = {},
): Promise<Socket> {
  const socket = io(`http://127.0.0.1:${port}${namespace}`, {
    path: '/ws',
    transports: ['websocket'],
    auth,
    extraHeaders: extra.headers,
    query: extra.query,
    reconnection: false,
    forceNew: true,
    autoConnect: false,
  });
  // Record from the first packet: events sent right after the handshake (a replay) can arrive
  // before the caller gets the socket.
  const events: [string, unknown][] = [];
  socket.onAny((event: string, payload: unknown) => events.push([event, payload]));
  recorded.set(socket, events);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
    socket.connect();
  });
}

/** Every event the socket received since it was opened, in order, and a way to wait for more. */
export function recorder(socket: Socket): {
  events: [string, unknown][];
  waitFor(predicate: (events: [string, unknown][]) => boolean, timeoutMs?: number): Promise<void>;
} {
  const events = recorded.get(socket);
  if (!events) throw new Error('recorder() needs a socket opened with connectSocket()');
  return {
    events,
    waitFor: async (predicate, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events).slice(0, 3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

export function emitWithAck<T = Record<string, unknown>>(socket: Socket, event: string, payload: unknown): Promise<T> {
  return socket.timeout(5000).emitWithAck(event, payload) as Promise<T>;
}

/**
 * Sends an event whose payload is given as raw JSON text, straight onto the wire, and waits for
 * its ack: for payloads the client library itself cannot encode (it walks them recursively).
 */
export function emitRawWithAck<T = Record<string, unknown>>(socket: Socket, event: string, payloadJson: string): Promise<T> {
  const internals = socket as unknown as { acks: Record<number, (reply: T) => void>; ids: number; nsp: string };
  const id = internals.ids++;
  const namespace = internals.nsp === '/' ? '' : `${internals.nsp},`;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event} within 5 s`)), 5000);
    internals.acks[id] = (reply) => {
      clearTimeout(timer);
      resolve(reply);
    };
    socket.io.engine.write(`2${namespace}${id}[${JSON.stringify(event)},${payloadJson}]`);
  });
}
