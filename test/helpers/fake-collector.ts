// Broken collectors for exit tests: each mode is one way a collector fails an exporter, on
// 127.0.0.1 only. Started and stopped by the test file (useFakeCollector), every socket
// destroyed on stop.
import { createServer, type Server, type Socket } from 'node:net';
import { after, before } from 'node:test';

/**
 * - refuse: nothing listens on the port (connection refused at once)
 * - black-hole: accepts connections, reads everything, never answers
 * - slow: answers, one byte a second (an HTTP/1.1 status line, or an HTTP/2 SETTINGS frame)
 * - reset: reads the first bytes of a request, then resets the connection (TCP RST)
 * - tls-hang: for `https://` endpoints: accepts, never answers the TLS ClientHello
 * - unresolvable: a name under `.invalid` (RFC 6761), for which resolvers answer "no such name"
 */
export type FakeCollectorMode =
  'refuse' | 'black-hole' | 'slow' | 'reset' | 'tls-hang' | 'unresolvable';

export const FAKE_COLLECTOR_MODES: readonly FakeCollectorMode[] = [
  'refuse',
  'black-hole',
  'slow',
  'reset',
  'tls-hang',
  'unresolvable',
];

export interface FakeCollector {
  readonly mode: FakeCollectorMode;
  /** Endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (gRPC and HTTP alike). */
  readonly endpoint: string;
  /** Connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

// A complete HTTP/1.1 response and the first bytes of an HTTP/2 SETTINGS frame: the client
// keeps waiting for the rest, which comes one byte a second.
const SLOW_HTTP = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n'
);
const SLOW_H2 = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** Starts a collector that fails in the given way. */
export async function startFakeCollector(
  mode: FakeCollectorMode
): Promise<FakeCollector> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  const server: Server = createServer(socket => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (mode === 'reset') {
      socket.once('data', () => socket.resetAndDestroy());
      return;
    }
    socket.resume();
    if (mode === 'slow') {
      let sent = 0;
      let reply: Buffer | undefined;
      socket.once('data', (first: Buffer) => {
        // An HTTP/2 client starts with the connection preface "PRI * HTTP/2.0".
        reply = first.subarray(0, 3).toString() === 'PRI' ? SLOW_H2 : SLOW_HTTP;
      });
      const timer = setInterval(() => {
        if (reply === undefined || socket.destroyed) return;
        if (sent < reply.length) socket.write(reply.subarray(sent, ++sent));
      }, 1000);
      timers.add(timer);
      socket.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  if (mode === 'refuse') await new Promise(r => server.close(r));
  const endpoint =
    mode === 'unresolvable'
      ? 'http://otel-collector.forksafe-test.invalid:4317'
      : `${mode === 'tls-hang' ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    mode,
    endpoint,
    get connections() {
      return connections;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise(r => server.close(r));
    },
  };
}

/** One fake collector per mode for the calling test file (started in `before`). */
export function useFakeCollectors(
  modes: readonly FakeCollectorMode[] = FAKE_COLLECTOR_MODES
): (mode: FakeCollectorMode) => FakeCollector {
  const started = new Map<FakeCollectorMode, FakeCollector>();
  before(async () => {
    for (const mode of modes) started.set(mode, await startFakeCollector(mode));
  });
  after(async () => {
    await Promise.all([...started.values()].map(c => c.stop()));
  });
  return mode => {
    const c = started.get(mode);
    if (!c) throw new Error(`no fake collector in mode ${mode}`);
    return c;
  };
}
