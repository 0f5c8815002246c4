// The propagators OTEL_PROPAGATORS names, composed in order; B3 loads only when named.
import type { TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type { ForksafeConfig } from '../config/types.ts';
import { loadB3 } from './lazy-require.ts';

/** The configured propagator, or null for `none`. */
export function createPropagator(
  config: ForksafeConfig
): TextMapPropagator | null {
  if (config.propagators.length === 0) return null;
  const propagators = config.propagators.map((name): TextMapPropagator => {
    switch (name) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      default: {
        const b3 = loadB3();
        return new b3.B3Propagator({
          injectEncoding:
            name === 'b3'
              ? b3.B3InjectEncoding.SINGLE_HEADER
              : b3.B3InjectEncoding.MULTI_HEADER,
        });
      }
    }
  });
  return new CompositePropagator({ propagators });
}
