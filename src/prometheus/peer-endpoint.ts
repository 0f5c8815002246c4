// The scrape endpoint of processes that have no primary of ours: pm2 cluster mode (pm2's
// daemon forks the instances and stays dark) and standalone apps. Loaded by
// src/prometheus/start.ts after the SDK started, only when OTEL_METRICS_EXPORTER has prometheus.
//
// Design (pm2): every instance tries to bind OTEL_EXPORTER_PROMETHEUS_HOST:PORT. The one that
// binds is the holder: it serves scrapes and also listens on a local socket named after the
// endpoint (a per-user directory under the OS temp dir). The others get EADDRINUSE, connect to
// that socket, and answer the holder's collection requests over it (newline-delimited JSON),
// so a scrape sees every instance. When the holder goes, its socket closes: each peer tries to
// bind again at once (with a little jitter); one wins and becomes the holder, the others
// connect to it. A port held by another program means no socket to join: the instance says
// so in one line and keeps trying quietly (the port may be freed).
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from '../diag.ts';
import type { PrometheusConfig } from '../config/types.ts';
import type { PrometheusSource } from '../sdk/prometheus-reader.ts';
import { listenForScrapes, type Gathered } from './scrape-server.ts';

/** Options of startPeerEndpoint. */
export interface PeerEndpointOptions {
  readonly config: PrometheusConfig;
  readonly source: PrometheusSource;
  /** pm2 instances share the endpoint; a standalone app holds it alone. */
  readonly share: boolean;
}

interface Frame {
  readonly op: 'collect' | 'metrics';
  readonly id: number;
  readonly text?: string;
}

/** The local socket of an endpoint: one per host:port, per user. */
export function channelPath(config: PrometheusConfig): string {
  const dir = join(tmpdir(), `otel-forksafe-${process.getuid?.() ?? 'user'}`);
  const name = `prometheus-${config.host.replace(/[^\w.-]/g, '_')}-${config.port}.sock`;
  return process.platform === 'win32'
    ? `\\\\.\\pipe\\otel-forksafe-${name}`
    : join(dir, name);
}

/** Calls `onFrame` for each JSON line on `socket`. */
function readFrames(socket: net.Socket, onFrame: (frame: Frame) => void): void {
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        onFrame(JSON.parse(line) as Frame);
      } catch {
        // not ours: ignore the line
      }
    }
  });
}

function writeFrame(socket: net.Socket, frame: Frame): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(frame)}\n`);
}

/** A started peer endpoint. */
export interface PeerEndpoint {
  /** Stops serving, joining and retrying (a standalone app that became a primary). */
  stop(): Promise<void>;
}

/** Starts holding or joining the endpoint. Never throws. */
export function startPeerEndpoint(options: PeerEndpointOptions): PeerEndpoint {
  const { config, source, share } = options;
  const path = channelPath(config);
  const peers = new Map<
    net.Socket,
    Map<number, (text: string | undefined) => void>
  >();
  let nextId = 1;
  let failures = 0;
  let saidTaken = false;
  let stopped = false;
  const closers: (() => Promise<void>)[] = [];

  const ask = (
    socket: net.Socket,
    bound: number
  ): Promise<string | undefined> =>
    new Promise(resolve => {
      const pending = peers.get(socket);
      if (!pending) return resolve(undefined);
      const id = nextId++;
      const timer = setTimeout(() => settle(undefined), bound);
      const settle = (text: string | undefined): void => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(text);
      };
      pending.set(id, settle);
      writeFrame(socket, { op: 'collect', id });
    });

  const gather = async (bound: number): Promise<Gathered> => {
    const sockets = [...peers.keys()];
    const [own, ...answers] = await Promise.all([
      source.collectText(),
      ...sockets.map(s => ask(s, bound)),
    ]);
    const texts = [own, ...answers.filter((t): t is string => t !== undefined)];
    const leftOut = sockets.filter(
      (s, i) => answers[i] === undefined && peers.has(s)
    ).length;
    return { texts, answered: texts.length, leftOut };
  };

  // The holder's side of the local socket: each connection is one peer.
  const openChannel = (): void => {
    if (process.platform !== 'win32') {
      try {
        mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
        // A holder killed outright leaves its socket file; whoever holds the port owns it.
        rmSync(path, { force: true });
      } catch (err) {
        log.error('Prometheus: cannot prepare the local socket', err);
      }
    }
    const channel = net.createServer(socket => {
      const pending = new Map<number, (text: string | undefined) => void>();
      peers.set(socket, pending);
      readFrames(socket, frame => {
        if (frame.op === 'metrics') pending.get(frame.id)?.(frame.text);
      });
      const forget = (): void => {
        peers.delete(socket);
        for (const settle of [...pending.values()]) settle(undefined);
      };
      socket.on('close', forget);
      socket.on('error', forget);
      socket.unref();
    });
    channel.on('error', err =>
      log.error('Prometheus: the local socket for other instances failed', err)
    );
    channel.listen(path).unref();
    closers.push(
      () =>
        new Promise(resolve => {
          for (const socket of peers.keys()) socket.destroy();
          channel.close(() => resolve());
        })
    );
  };

  // A peer: answers the holder's requests until the holder goes, then tries to take over.
  const join_ = (): void => {
    const socket = net.connect(path);
    socket.unref();
    closers.push(() => {
      socket.destroy();
      return Promise.resolve();
    });
    let joined = false;
    socket.on('connect', () => {
      joined = true;
      failures = 0;
      log.debug(
        `Prometheus: ${config.host}:${config.port} is held by another instance; answering its scrapes`
      );
    });
    readFrames(socket, frame => {
      if (frame.op !== 'collect') return;
      void source
        .collectText()
        .then(text =>
          writeFrame(socket, { op: 'metrics', id: frame.id, text })
        );
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (joined) {
        // The holder went: try to take over at once, a little apart from the other peers.
        retry(Math.random() * 100);
        return;
      }
      failures++;
      if (failures >= 8 && !saidTaken) {
        saidTaken = true;
        log.warn(
          `OTEL_EXPORTER_PROMETHEUS_PORT=${config.port}: ${config.host}:${config.port} is already in use by another program; no Prometheus endpoint (choose a free port)`
        );
      }
      retry(failures < 8 ? 250 : 2000);
    });
  };

  const retry = (delay: number): void => {
    setTimeout(hold, delay).unref();
  };

  function hold(): void {
    if (stopped) return;
    const server = listenForScrapes({
      host: config.host,
      port: config.port,
      gather,
      onListening: () => {
        failures = 0;
        log.debug(
          `Prometheus endpoint on ${config.host}:${config.port}${share ? ', gathering the other instances over a local socket' : ''}`
        );
        if (share) openChannel();
      },
      onPortTaken: () => {
        if (share) {
          join_();
          return;
        }
        log.warn(
          // Dev note: a standalone process may be a child of an instrumented app (it inherits
          // the variables) whose primary holds the port: "another program" may be the app.
          `OTEL_EXPORTER_PROMETHEUS_PORT=${config.port}: ${config.host}:${config.port} is already in use (by another program, or by another process of this app); this process's metrics are not served (choose a free port, or OTEL_METRICS_EXPORTER for this process)`
        );
      },
    });
    closers.push(() => server.close());
  }
  hold();
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(closers.splice(0).map(close => close()));
    },
  };
}
