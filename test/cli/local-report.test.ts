// Unit tests of what --local is made of: the OTLP codec (protobuf round trip to OTLP/JSON, hex
// ids, counts per resource) and the per-process tally and table (src/cli/local-report.ts).
import assert from 'node:assert/strict';
import { describe as suite, test } from 'node:test';
import { sampleRequest } from '../../src/cli/doctor.ts';
import {
  formatLiveLine,
  formatProcessTable,
  ProcessTally,
} from '../../src/cli/local-report.ts';
import {
  attributesOf,
  camelKeys,
  countRequest,
  decodeRequest,
  encodeRequest,
} from '../../src/otlp/codec.ts';

suite('otlp-codec', () => {
  test('a protobuf round trip gives OTLP/JSON back, ids in hex', () => {
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      const request = sampleRequest(signal, 'svc');
      const decoded = decodeRequest(signal, encodeRequest(signal, request));
      assert.deepEqual(decoded, request, signal);
    }
  });

  test('snake_case JSON keys become camelCase', () => {
    assert.deepEqual(camelKeys({ resource_spans: [{ scope_spans: [] }] }), {
      resourceSpans: [{ scopeSpans: [] }],
    });
  });

  test('attributes and counts per resource', () => {
    const resource = (pid: number, slot?: number) => ({
      attributes: [
        { key: 'process.pid', value: { intValue: String(pid) } },
        { key: 'service.instance.id', value: { stringValue: `id-${pid}` } },
        ...(slot === undefined
          ? []
          : [{ key: 'nodejs.cluster.worker.slot', value: { intValue: slot } }]),
      ],
    });
    assert.deepEqual(attributesOf(resource(7, 1).attributes), {
      'process.pid': 7,
      'service.instance.id': 'id-7',
      'nodejs.cluster.worker.slot': 1,
    });
    const metrics = {
      resourceMetrics: [
        {
          resource: resource(7, 1),
          scopeMetrics: [
            {
              metrics: [
                { gauge: { dataPoints: [{}, {}] } },
                { histogram: { dataPoints: [{}] } },
              ],
            },
          ],
        },
      ],
    };
    const spans = {
      resourceSpans: [
        {
          resource: resource(8),
          scopeSpans: [{ spans: [{}, {}, {}] }, { spans: [{}] }],
        },
      ],
    };
    assert.deepEqual(
      countRequest('metrics', metrics).map(c => c.metricPoints),
      [3]
    );
    assert.deepEqual(
      countRequest('traces', spans).map(c => c.spans),
      [4]
    );

    const tally = new ProcessTally();
    tally.add(countRequest('traces', spans));
    tally.add(countRequest('metrics', metrics));
    tally.add(countRequest('metrics', metrics));
    tally.add(
      countRequest('logs', {
        resourceLogs: [
          { resource: resource(8), scopeLogs: [{ logRecords: [{}] }] },
        ],
      })
    );
    const rows = tally.rows();
    assert.deepEqual(
      rows.map(r => [
        r.role,
        r.pid,
        r.instanceId,
        r.spans,
        r.metricPoints,
        r.logRecords,
      ]),
      [
        ['worker', 7, 'id-7', 0, 6, 0],
        ['standalone', 8, 'id-8', 4, 0, 1],
      ]
    );
    assert.equal(
      formatLiveLine(rows),
      '2 processes · 4 spans · 6 metric points · 1 log record'
    );
    assert.equal(
      formatProcessTable(rows),
      [
        'role        pid  service.instance.id  spans  metric points  log records',
        'worker      7    id-7                     0              6            0',
        'standalone  8    id-8                     4              0            1',
        '',
      ].join('\n')
    );
    assert.match(formatProcessTable([]), /\(nothing arrived\)/);
  });
});
