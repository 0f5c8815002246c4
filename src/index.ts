// Public programmatic API: the pure pieces other tools may want (config reading, role
// classification, NODE_OPTIONS handling). The preload itself is `otel-forksafe/register`.
export { readConfig } from './config/read-config.ts';
export { parseKeyValueList } from './config/env-reader.ts';
export type {
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
  OtlpProtocol,
} from './config/types.ts';
export { classifyProcess, toolNamesOf } from './preload/classify.ts';
export type { ProcessRole, RoleFacts } from './preload/classify.ts';
export {
  appendImportToNodeOptions,
  tokenizeNodeOptions,
} from './patches/node-options.ts';
export { workerInstanceId } from './identity/process-identity.ts';
export { VERSION } from './version.ts';
