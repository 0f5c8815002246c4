// The resource of a process that exports: the detectors OTEL_NODE_RESOURCE_DETECTORS names,
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, and our process identity on top.
import {
  defaultResource,
  detectResources,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  type Resource,
  type ResourceDetector,
} from '@opentelemetry/resources';
import type { ForksafeConfig } from '../config/types.ts';
import { log } from '../diag.ts';
import type { ProcessIdentity } from '../identity/process-identity.ts';
import { requireFromAutoInstrumentations } from './lazy-require.ts';

// Resource detectors that live in auto-instrumentations-node's dependencies.
const EXTRA_DETECTORS: Record<string, [string, string]> = {
  container: [
    '@opentelemetry/resource-detector-container',
    'containerDetector',
  ],
  alibaba: [
    '@opentelemetry/resource-detector-alibaba-cloud',
    'alibabaCloudEcsDetector',
  ],
  aws: ['@opentelemetry/resource-detector-aws', 'awsEc2Detector'],
  azure: ['@opentelemetry/resource-detector-azure', 'azureVmDetector'],
  gcp: ['@opentelemetry/resource-detector-gcp', 'gcpDetector'],
};

function loadExtraDetector(name: string): ResourceDetector | undefined {
  const entry = EXTRA_DETECTORS[name];
  if (!entry) return undefined;
  try {
    const mod = requireFromAutoInstrumentations(entry[0]) as Record<
      string,
      ResourceDetector | undefined
    >;
    return mod[entry[1]];
  } catch (err) {
    log.error(
      `resource detector ${JSON.stringify(name)} is not available`,
      err
    );
    return undefined;
  }
}

/** The resource for this process; the identity wins over every other source. */
export function buildResource(
  config: ForksafeConfig,
  identity: ProcessIdentity
): Resource {
  const detectors: ResourceDetector[] = [];
  for (const name of config.resourceDetectors) {
    if (name === 'host') detectors.push(hostDetector);
    else if (name === 'os') detectors.push(osDetector);
    else if (name === 'process') detectors.push(processDetector);
    else if (name !== 'env') {
      const detector = loadExtraDetector(name);
      if (detector) detectors.push(detector);
    }
  }
  let resource = defaultResource().merge(detectResources({ detectors }));
  // Dev note: 'env' is applied from our parsed config rather than by envDetector, so the
  // environment is read (and its problems reported) in one place.
  if (config.resourceDetectors.includes('env')) {
    resource = resource.merge(
      resourceFromAttributes(config.resourceAttributes)
    );
  }
  if (config.serviceName !== undefined) {
    resource = resource.merge(
      resourceFromAttributes({ 'service.name': config.serviceName })
    );
  }
  // Identity last: it must win over anything the detectors or the environment said.
  return resource.merge(resourceFromAttributes(identity.attributes));
}
