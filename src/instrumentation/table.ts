// The instrumentations otel-forksafe can enable: short name (as in OTEL_NODE_ENABLED_INSTRUMENTATIONS),
// the package that implements it, its exported class, and the modules it patches. Plain data, cheap
// to load: test/instrumentation/table.test.ts checks it against the auto-instrumentations package.

/** One row of the table. */
export interface InstrumentationEntry {
  /** Short name, as used by OTEL_NODE_ENABLED_INSTRUMENTATIONS. */
  readonly name: string;
  /** Package, resolved from @opentelemetry/auto-instrumentations-node. */
  readonly pkg: string;
  /** Name of the class the package exports. */
  readonly className: string;
  /** Module names the instrumentation hooks (empty: it hooks nothing by name). */
  readonly modules: readonly string[];
}

/** Every instrumentation bundled in @opentelemetry/auto-instrumentations-node. */
export const INSTRUMENTATIONS: readonly InstrumentationEntry[] = [
  {
    name: 'amqplib',
    pkg: '@opentelemetry/instrumentation-amqplib',
    className: 'AmqplibInstrumentation',
    modules: ['amqplib'],
  },
  {
    name: 'aws-lambda',
    pkg: '@opentelemetry/instrumentation-aws-lambda',
    className: 'AwsLambdaInstrumentation',
    modules: [],
  },
  {
    name: 'aws-sdk',
    pkg: '@opentelemetry/instrumentation-aws-sdk',
    className: 'AwsInstrumentation',
    modules: [
      '@aws-sdk/middleware-stack',
      '@smithy/middleware-stack',
      '@smithy/core',
      '@aws-sdk/smithy-client',
      '@smithy/smithy-client',
    ],
  },
  {
    name: 'bunyan',
    pkg: '@opentelemetry/instrumentation-bunyan',
    className: 'BunyanInstrumentation',
    modules: ['bunyan'],
  },
  {
    name: 'cassandra-driver',
    pkg: '@opentelemetry/instrumentation-cassandra-driver',
    className: 'CassandraDriverInstrumentation',
    modules: ['cassandra-driver'],
  },
  {
    name: 'connect',
    pkg: '@opentelemetry/instrumentation-connect',
    className: 'ConnectInstrumentation',
    modules: ['connect'],
  },
  {
    name: 'cucumber',
    pkg: '@opentelemetry/instrumentation-cucumber',
    className: 'CucumberInstrumentation',
    modules: ['@cucumber/cucumber'],
  },
  {
    name: 'dataloader',
    pkg: '@opentelemetry/instrumentation-dataloader',
    className: 'DataloaderInstrumentation',
    modules: ['dataloader'],
  },
  {
    name: 'dns',
    pkg: '@opentelemetry/instrumentation-dns',
    className: 'DnsInstrumentation',
    modules: ['dns', 'dns/promises'],
  },
  {
    name: 'express',
    pkg: '@opentelemetry/instrumentation-express',
    className: 'ExpressInstrumentation',
    modules: ['express'],
  },
  {
    name: 'fs',
    pkg: '@opentelemetry/instrumentation-fs',
    className: 'FsInstrumentation',
    modules: ['fs', 'fs/promises'],
  },
  {
    name: 'generic-pool',
    pkg: '@opentelemetry/instrumentation-generic-pool',
    className: 'GenericPoolInstrumentation',
    modules: ['generic-pool'],
  },
  {
    name: 'graphql',
    pkg: '@opentelemetry/instrumentation-graphql',
    className: 'GraphQLInstrumentation',
    modules: ['graphql'],
  },
  {
    name: 'grpc',
    pkg: '@opentelemetry/instrumentation-grpc',
    className: 'GrpcInstrumentation',
    modules: ['@grpc/grpc-js'],
  },
  {
    name: 'hapi',
    pkg: '@opentelemetry/instrumentation-hapi',
    className: 'HapiInstrumentation',
    modules: ['@hapi/hapi'],
  },
  {
    name: 'host-metrics',
    pkg: '@opentelemetry/instrumentation-host-metrics',
    className: 'HostMetricsInstrumentation',
    modules: [],
  },
  {
    name: 'http',
    pkg: '@opentelemetry/instrumentation-http',
    className: 'HttpInstrumentation',
    modules: ['https', 'http'],
  },
  {
    name: 'ioredis',
    pkg: '@opentelemetry/instrumentation-ioredis',
    className: 'IORedisInstrumentation',
    modules: ['ioredis'],
  },
  {
    name: 'kafkajs',
    pkg: '@opentelemetry/instrumentation-kafkajs',
    className: 'KafkaJsInstrumentation',
    modules: ['kafkajs'],
  },
  {
    name: 'knex',
    pkg: '@opentelemetry/instrumentation-knex',
    className: 'KnexInstrumentation',
    modules: ['knex'],
  },
  {
    name: 'koa',
    pkg: '@opentelemetry/instrumentation-koa',
    className: 'KoaInstrumentation',
    modules: ['koa'],
  },
  {
    name: 'lru-memoizer',
    pkg: '@opentelemetry/instrumentation-lru-memoizer',
    className: 'LruMemoizerInstrumentation',
    modules: ['lru-memoizer'],
  },
  {
    name: 'memcached',
    pkg: '@opentelemetry/instrumentation-memcached',
    className: 'MemcachedInstrumentation',
    modules: ['memcached'],
  },
  {
    name: 'mongodb',
    pkg: '@opentelemetry/instrumentation-mongodb',
    className: 'MongoDBInstrumentation',
    modules: ['mongodb'],
  },
  {
    name: 'mongoose',
    pkg: '@opentelemetry/instrumentation-mongoose',
    className: 'MongooseInstrumentation',
    modules: ['mongoose'],
  },
  {
    name: 'mysql2',
    pkg: '@opentelemetry/instrumentation-mysql2',
    className: 'MySQL2Instrumentation',
    modules: ['mysql2'],
  },
  {
    name: 'mysql',
    pkg: '@opentelemetry/instrumentation-mysql',
    className: 'MySQLInstrumentation',
    modules: ['mysql'],
  },
  {
    name: 'nestjs-core',
    pkg: '@opentelemetry/instrumentation-nestjs-core',
    className: 'NestInstrumentation',
    modules: ['@nestjs/core'],
  },
  {
    name: 'net',
    pkg: '@opentelemetry/instrumentation-net',
    className: 'NetInstrumentation',
    modules: ['net'],
  },
  {
    name: 'openai',
    pkg: '@opentelemetry/instrumentation-openai',
    className: 'OpenAIInstrumentation',
    modules: ['openai'],
  },
  {
    name: 'oracledb',
    pkg: '@opentelemetry/instrumentation-oracledb',
    className: 'OracleInstrumentation',
    modules: ['oracledb'],
  },
  {
    name: 'pg',
    pkg: '@opentelemetry/instrumentation-pg',
    className: 'PgInstrumentation',
    modules: ['pg', 'pg-pool'],
  },
  {
    name: 'pino',
    pkg: '@opentelemetry/instrumentation-pino',
    className: 'PinoInstrumentation',
    modules: ['pino'],
  },
  {
    name: 'redis',
    pkg: '@opentelemetry/instrumentation-redis',
    className: 'RedisInstrumentation',
    modules: ['redis', '@redis/client', '@node-redis/client'],
  },
  {
    name: 'restify',
    pkg: '@opentelemetry/instrumentation-restify',
    className: 'RestifyInstrumentation',
    modules: ['restify'],
  },
  {
    name: 'router',
    pkg: '@opentelemetry/instrumentation-router',
    className: 'RouterInstrumentation',
    modules: ['router'],
  },
  {
    name: 'runtime-node',
    pkg: '@opentelemetry/instrumentation-runtime-node',
    className: 'RuntimeNodeInstrumentation',
    modules: [],
  },
  {
    name: 'socket.io',
    pkg: '@opentelemetry/instrumentation-socket.io',
    className: 'SocketIoInstrumentation',
    modules: ['socket.io'],
  },
  {
    name: 'tedious',
    pkg: '@opentelemetry/instrumentation-tedious',
    className: 'TediousInstrumentation',
    modules: ['tedious'],
  },
  {
    name: 'undici',
    pkg: '@opentelemetry/instrumentation-undici',
    className: 'UndiciInstrumentation',
    modules: [],
  },
  {
    name: 'winston',
    pkg: '@opentelemetry/instrumentation-winston',
    className: 'WinstonInstrumentation',
    modules: ['winston'],
  },
];

/** The short names, in table order. */
export const INSTRUMENTATION_NAMES: readonly string[] = INSTRUMENTATIONS.map(
  e => e.name
);
