// Public programmatic API: the pure pieces other tools may want (config reading, role
// classification, NODE_OPTIONS handling). The preload itself is `otel-forksafe/register`.
export { readConfig, parseKeyValueList } from './config.ts';
export type {
  ForksafeConfig,
  OtlpSignalConfig,
  Signal,
  OtlpProtocol,
} from './config.ts';
export { classifyProcess, toolNamesOf } from './process-role.ts';
export type { ProcessRole, RoleFacts } from './process-role.ts';
export {
  appendImportToNodeOptions,
  tokenizeNodeOptions,
} from './node-options.ts';
export { workerInstanceId } from './identity.ts';
export { VERSION } from './version.ts';
