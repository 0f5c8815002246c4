// Unit tests of src/prometheus/exposition.ts: merging the expositions of several processes
// into one that Prometheus accepts (one HELP/TYPE per family, every process's samples).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeExpositions } from '../../src/prometheus/exposition.ts';

const worker = (pid: number, type = 'counter'): string =>
  [
    '# HELP target_info Target metadata',
    '# TYPE target_info gauge',
    `target_info{process_pid="${pid}"} 1`,
    '# HELP reqs_total Requests',
    '# UNIT reqs_total 1',
    `# TYPE reqs_total ${type}`,
    `reqs_total{process_pid="${pid}"} ${pid}`,
    '',
    '# HELP lat Latency',
    '# TYPE lat histogram',
    `lat_count{process_pid="${pid}"} 2`,
    `lat_sum{process_pid="${pid}"} 3`,
    `lat_bucket{process_pid="${pid}",le="+Inf"} 2`,
    '',
  ].join('\n');

test('one header per family, every process under it, status gauges at the end', () => {
  const merged = mergeExpositions([worker(1), worker(2)], {
    answered: 2,
    leftOut: 1,
  });
  assert.equal(merged.match(/^# TYPE reqs_total /gm)?.length, 1);
  assert.equal(merged.match(/^# TYPE lat /gm)?.length, 1);
  const lines = merged.split('\n');
  const at = (l: string): number => lines.indexOf(l);
  // Families stay contiguous: both processes' samples right after their family's TYPE line.
  assert.deepEqual(
    lines.slice(
      at('# TYPE reqs_total counter') + 1,
      at('# TYPE reqs_total counter') + 3
    ),
    ['reqs_total{process_pid="1"} 1', 'reqs_total{process_pid="2"} 2']
  );
  assert.equal(
    lines[at('# HELP reqs_total Requests') + 1],
    '# UNIT reqs_total 1'
  );
  assert.deepEqual(
    lines.slice(at('# TYPE lat histogram') + 1, at('# TYPE lat histogram') + 7),
    [
      'lat_count{process_pid="1"} 2',
      'lat_sum{process_pid="1"} 3',
      'lat_bucket{process_pid="1",le="+Inf"} 2',
      'lat_count{process_pid="2"} 2',
      'lat_sum{process_pid="2"} 3',
      'lat_bucket{process_pid="2",le="+Inf"} 2',
    ]
  );
  assert.match(merged, /^otel_forksafe_scrape_processes 2$/m);
  assert.match(merged, /^otel_forksafe_scrape_processes_left_out 1$/m);
});

test('a process whose TYPE differs loses that family, not the others', () => {
  const merged = mergeExpositions([worker(1), worker(2, 'gauge')]);
  assert.doesNotMatch(merged, /reqs_total\{process_pid="2"\}/);
  assert.match(merged, /reqs_total\{process_pid="1"\} 1/);
  assert.match(merged, /lat_count\{process_pid="2"\} 2/);
  assert.equal(merged.match(/^# TYPE reqs_total /gm)?.length, 1);
});

test('no process: an empty exposition (with the status gauges)', () => {
  assert.equal(mergeExpositions([]), '');
  assert.match(
    mergeExpositions(['# no registered metrics'], { answered: 1, leftOut: 0 }),
    /^# HELP otel_forksafe_scrape_processes /
  );
});
