// Flushes the SDK when the process ends on its own (beforeExit), bounded by
// OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS. Signal and exit paths: TODO(#3).
import type { ForksafeConfig } from './config.ts';
import { log } from './diag.ts';
import type { SdkHandle } from './sdk.ts';

/**
 * Installs the end-of-process flush. `beforeExit` fires when the event loop is empty; the
 * pending export keeps it alive until the flush ends or the timeout passes.
 */
export function installShutdown(sdk: SdkHandle, config: ForksafeConfig): void {
  process.once('beforeExit', () => {
    const timer = setTimeout(() => {
      log.warn(
        `flush at exit took longer than OTEL_FORKSAFE_SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMillis}; some telemetry may be lost`
      );
    }, config.shutdownTimeoutMillis);
    timer.unref();
    void sdk.shutdown().finally(() => clearTimeout(timer));
  });
}
