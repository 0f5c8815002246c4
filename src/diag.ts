// The only writer to stderr: one line per problem, prefixed `otel-forksafe:`, and the bridge
// that routes the OpenTelemetry API's own diag messages through the same filter.
import type { DiagLogLevel, DiagLogger } from '@opentelemetry/api';

/** OTEL_LOG_LEVEL values, lower-cased (OpenTelemetry spec: "General SDK Configuration"). */
export type LogLevelName =
  'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';

const RANK: Record<LogLevelName, number> = {
  none: 0,
  error: 1,
  warn: 2,
  info: 3,
  debug: 4,
  verbose: 5,
  all: 6,
};

interface DiagState {
  level: LogLevelName;
  role: string;
  seen: Set<string>;
  seenExportFailures: Set<string>;
  write: (line: string) => void;
}

// Dev note: one instance per process: our bundles (preload, SDK, Prometheus) all load this
// module from its own file (scripts/bundle.mjs keeps it outside them).
const state: DiagState = {
  level: 'warn',
  role: 'starting',
  seen: new Set(),
  seenExportFailures: new Set(),
  write: line => {
    process.stderr.write(line);
  },
};

/** Sets the threshold (from OTEL_LOG_LEVEL) and, for tests, where lines go. */
export function configureDiag(options: {
  level?: LogLevelName;
  write?: (line: string) => void;
}): void {
  if (options.level) state.level = options.level;
  if (options.write) state.write = options.write;
}

/** Records the process role shown in every line (worker, primary, …). */
export function setDiagRole(role: string): void {
  state.role = role;
}

/** True when lines of this level are printed. */
export function isLevelEnabled(level: LogLevelName): boolean {
  return RANK[level] <= RANK[state.level];
}

// Dev note: a diagnostic must stay on one line, whatever the SDK hands us (stacks, JSON).
// Stack frames are for OTEL_LOG_LEVEL=debug only: the API reports errors as `err.stack`.
function toOneLine(text: string): string {
  const kept = isLevelEnabled('debug')
    ? text
    : text
        .split('\n')
        .filter(l => !/^\s*at\s/.test(l))
        .join('\n');
  return kept.replace(/\s*\n\s*/g, ' | ').trim();
}

/** Short text for an error-like value: message and code, never a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const raw = (err as { code?: unknown }).code;
    const code =
      typeof raw === 'string' || typeof raw === 'number'
        ? String(raw)
        : undefined;
    const base = err.message || err.name;
    return code !== undefined && !base.includes(code)
      ? `${base} (code ${code})`
      : base;
  }
  if (typeof err === 'string') {
    // The SDK's global error handler hands us JSON-stringified errors.
    if (err.startsWith('{')) {
      try {
        const parsed = JSON.parse(err) as { message?: unknown; code?: unknown };
        if (typeof parsed.message === 'string') {
          return describeError(
            Object.assign(new Error(parsed.message), { code: parsed.code })
          );
        }
      } catch {
        // not JSON after all: fall through
      }
    }
    return err;
  }
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

function emit(level: LogLevelName, message: string, once: boolean): void {
  if (!isLevelEnabled(level)) return;
  const line = toOneLine(message);
  if (once) {
    if (state.seen.has(line)) return;
    state.seen.add(line);
  }
  state.write(
    `otel-forksafe: [${process.pid} ${state.role}] ${level}: ${line}\n`
  );
}

/** Our own diagnostics. error/warn lines are printed once per distinct text. */
export const log = {
  /**
   * A failed export (the SDK's global error handler). Printed once per kind of failure, so a
   * dead collector gives one line, not one per batch and signal.
   */
  exportFailed(err: unknown): void {
    const text = describeError(err)
      .replace(/^[\s\S]*?export failed \(error (?:Error: )?([\s\S]*)\)$/, '$1')
      .replace(/\s*Resolution note:\s*$/, '')
      .replace(/\s*Last error: null\.?/, '')
      .trim();
    // One line per kind of failure: the first sentence, numbers folded.
    const key = causeKey(text.split(/\.(?:\s|$)/)[0] ?? text);
    if (state.seenExportFailures.has(key) && !isLevelEnabled('debug')) return;
    state.seenExportFailures.add(key);
    emit(
      'error',
      `telemetry export failed: ${text} (check OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL; repeats are not printed)`,
      false
    );
  },

  error(message: string, err?: unknown): void {
    emit(
      'error',
      err === undefined ? message : `${message}: ${describeError(err)}`,
      true
    );
  },
  warn(message: string): void {
    emit('warn', message, true);
  },
  info(message: string): void {
    emit('info', message, false);
  },
  debug(message: string): void {
    emit('debug', message, false);
  },
};

function joinArgs(message: string, args: unknown[]): string {
  return [message, ...args.map(describeError)].join(' ');
}

// Dev note: the exporters report every failed export; a dead collector would otherwise print
// a line every few seconds per signal. The first line of each kind says it all. The key is the
// cause, not the text: every number is folded (a deadline of 9.999 s and one of 10.001 s, two
// ports, two counts are the same problem), and so is whatever follows a first comma-separated
// detail list (grpc-js appends per-call timings).
export function causeKey(text: string): string {
  return text
    .replace(/\d+(?:\.\d+)*/g, 'N')
    .replace(/,.*$/s, '')
    .trim();
}

/**
 * A DiagLogger for `diag.setLogger`: the SDK's messages come out through the same one-line,
 * prefixed, de-duplicated writer as ours.
 */
export function createDiagBridge(): DiagLogger {
  const seenSdk = new Set<string>();
  const forward =
    (level: LogLevelName, dedupe: boolean) =>
    (message: string, ...args: unknown[]): void => {
      const text = joinArgs(describeError(message), args);
      // The metric reader reports failed exports through diag, the span and log processors
      // through the global error handler: both end up as one exportFailed line.
      if (level === 'error' && text.includes('export failed (error')) {
        log.exportFailed(text);
        return;
      }
      // The app started an SDK of its own (a tracing.js): the API refuses its registrations,
      // one error with a stack each. One line says what happened and how to choose otherwise.
      if (/Attempted duplicate registration of API: /.test(text)) {
        reportOwnSdk(text);
        return;
      }
      // The OTLP exporters re-read the OTEL_EXPORTER_OTLP_* variables and warn about bad
      // ones with a "Configuration:" prefix; src/config/ has already reported those once.
      if (
        level === 'warn' &&
        text.startsWith('Configuration:') &&
        !isLevelEnabled('debug')
      ) {
        return;
      }
      // The exit-time flush serialises spans that may still wait for a detector's async
      // attributes (host.id); the resource then lacks those, which is not worth an error.
      if (text.startsWith('Accessing resource attributes before async')) {
        if (isLevelEnabled('debug')) emit('debug', text, false);
        return;
      }
      if (dedupe && !isLevelEnabled('debug')) {
        const key = causeKey(text);
        if (seenSdk.has(key)) return;
        seenSdk.add(key);
      }
      emit(level, text, false);
    };
  return {
    error: forward('error', true),
    warn: forward('warn', true),
    info: forward('info', false),
    debug: forward('debug', false),
    verbose: forward('verbose', false),
  };
}

let ownSdkReported = false;

/** The main script's name as OTEL_FORKSAFE_EXCLUDE matches it. */
function mainScriptName(): string {
  const script = process.argv[1] ?? '';
  const base = script.slice(
    Math.max(script.lastIndexOf('/'), script.lastIndexOf('\\')) + 1
  );
  return base.replace(/\.(c|m)?js$/, '') || 'app';
}

// Policy (README, "An app with its own SDK"): ours keeps running, the app's registrations are
// refused (the API keeps the first), so every request is traced and exported once.
function reportOwnSdk(text: string): void {
  if (isLevelEnabled('debug')) emit('debug', text, false);
  if (ownSdkReported) return;
  ownSdkReported = true;
  emit(
    'warn',
    `the application started an OpenTelemetry SDK of its own: otel-forksafe keeps exporting and the application's SDK is not registered, so telemetry is exported once, by otel-forksafe. To run the application's own SDK instead, leave this app to it with OTEL_FORKSAFE_EXCLUDE=${mainScriptName()}`,
    false
  );
}

/** What installDiagBridge needs of an @opentelemetry/api copy. */
interface DiagApi {
  diag: {
    setLogger(
      logger: DiagLogger,
      options?: { logLevel?: DiagLogLevel; suppressOverrideMessage?: boolean }
    ): boolean;
  };
  DiagConsoleLogger: abstract new () => DiagLogger;
}

/**
 * Makes our bridge the API's diag logger, and keeps it: an SDK the app starts installs a
 * console logger of its own when OTEL_LOG_LEVEL is set (NodeSDK's constructor), which would
 * print multi-line stacks and write debug lines to stdout. That one is refused (our bridge
 * already prints at OTEL_LOG_LEVEL); a logger of any other kind the app sets is honoured.
 */
export function installDiagBridge(api: DiagApi, level: LogLevelName): void {
  const { diag } = api;
  const setLogger = diag.setLogger.bind(diag);
  setLogger(createDiagBridge(), {
    logLevel: toDiagLogLevel(level),
    suppressOverrideMessage: true,
  });
  diag.setLogger = (logger, options) => {
    if (logger instanceof api.DiagConsoleLogger) {
      log.debug(
        'a console diag logger (an SDK started by the application) was not installed: otel-forksafe prints diagnostics at OTEL_LOG_LEVEL'
      );
      return false;
    }
    return setLogger(logger, options);
  };
}

/** Maps our level names onto the API's DiagLogLevel. */
export function toDiagLogLevel(level: LogLevelName): DiagLogLevel {
  // Dev note: DiagLogLevel's values written out, so that loading this module does not load
  // the API: a cluster primary never needs it (see the benchmark's primary RSS row).
  const map: Record<LogLevelName, DiagLogLevel> = {
    none: 0,
    error: 30,
    warn: 50,
    info: 60,
    debug: 70,
    verbose: 80,
    all: 9999,
  };
  return map[level];
}
