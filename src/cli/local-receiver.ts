// The OTLP receiver `otel-launch --local` runs in the launcher itself: the receiver core
// (otlp/receiver.ts) on 127.0.0.1, counting what each process sends and, if asked, writing
// every request as one OTLP/JSON line. Loaded only with --local.
import { createWriteStream, type WriteStream } from 'node:fs';
import { ProcessTally, type ProcessRow } from './local-report.ts';
import { countRequest } from '../otlp/codec.ts';
import { startOtlpReceiver } from '../otlp/receiver.ts';

/** A running receiver. */
export interface LocalReceiver {
  /** `http://127.0.0.1:PORT`, for OTLP/gRPC. */
  readonly grpcEndpoint: string;
  /** `http://127.0.0.1:PORT`, the OTLP/HTTP base (append /v1/<signal>). */
  readonly httpEndpoint: string;
  /** One row per process that exported, workers first. */
  rows(): ProcessRow[];
  /** Stops listening and finishes the file; bounded to ~2 s. */
  close(): Promise<void>;
}

/** Options of startLocalReceiver. */
export interface LocalReceiverOptions {
  /** Write every request received, one OTLP/JSON object per line. */
  readonly file?: string | undefined;
  /** Called with one line when something goes wrong (a bad request, the file). */
  readonly onProblem?: (message: string) => void;
}

/** Starts the receiver on two free loopback ports. Rejects if it cannot listen. */
export async function startLocalReceiver(
  options: LocalReceiverOptions = {}
): Promise<LocalReceiver> {
  const tally = new ProcessTally();
  const problems = new Set<string>();
  const problem = (message: string): void => {
    // Once per kind of problem: a misbehaving client must not flood the terminal.
    if (problems.has(message)) return;
    problems.add(message);
    options.onProblem?.(message);
  };
  let file: WriteStream | undefined;
  if (options.file !== undefined) {
    file = createWriteStream(options.file, { flags: 'w' });
    file.on('error', err =>
      problem(`cannot write ${options.file}: ${err.message}`)
    );
  }
  const receiver = await startOtlpReceiver({
    onRequest: (signal, request) => {
      tally.add(countRequest(signal, request));
      file?.write(`${JSON.stringify(request)}\n`);
    },
    onUndecodable: (signal, transport, err) =>
      problem(
        `--local: a ${signal} request over ${transport} could not be decoded (${String(err)})`
      ),
  });

  let closing: Promise<void> | undefined;
  return {
    grpcEndpoint: `http://127.0.0.1:${receiver.grpcPort}`,
    httpEndpoint: `http://127.0.0.1:${receiver.httpPort}`,
    rows: () => tally.rows(),
    close() {
      closing ??= (async () => {
        const done = Promise.all([
          receiver.close(),
          file === undefined
            ? undefined
            : new Promise<void>(resolve => file.end(resolve)),
        ]);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          done,
          new Promise<void>(resolve => {
            timer = setTimeout(resolve, 2000);
            timer.unref();
          }),
        ]);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
