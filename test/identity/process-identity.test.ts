// Unit tests of src/identity.ts: the per-worker service.instance.id and the resource
// attributes of cluster workers and single-process apps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ATTR_WORKER_ID,
  ATTR_WORKER_SLOT,
  standaloneIdentity,
  workerIdentity,
  workerInstanceId,
} from '../../src/identity/process-identity.ts';

const UUID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('workerInstanceId', () => {
  test('is <base>-w<slot>', () => {
    assert.equal(workerInstanceId('abc', 0), 'abc-w0');
    assert.equal(workerInstanceId('6f1c-uuid', 12), '6f1c-uuid-w12');
  });
});

describe('workerIdentity', () => {
  const marker = { slot: 3, primaryPid: 100, instanceBase: 'base-1' };

  test('with a marker: the marker base and slot', () => {
    const id = workerIdentity({
      marker,
      clusterWorkerId: 7,
      configuredId: undefined,
      pid: 201,
      ppid: 100,
    });
    assert.equal(id.instanceId, 'base-1-w3');
    assert.deepEqual(id.attributes, {
      'service.instance.id': 'base-1-w3',
      'process.pid': 201,
      'process.parent_pid': 100,
      [ATTR_WORKER_ID]: 7,
      [ATTR_WORKER_SLOT]: 3,
    });
    assert.equal(id.derivedFrom, undefined);
  });

  test('with a configured id: derivedFrom names it', () => {
    // The primary passes its configured id as the marker base.
    const id = workerIdentity({
      marker: { ...marker, instanceBase: 'checkout-1' },
      clusterWorkerId: 4,
      configuredId: 'checkout-1',
      pid: 202,
      ppid: 100,
    });
    assert.equal(id.instanceId, 'checkout-1-w3');
    assert.equal(id.derivedFrom, 'checkout-1');
    assert.equal(id.attributes['service.instance.id'], 'checkout-1-w3');
  });

  test('with a configured id and no marker: configured base, cluster id - 1 as slot', () => {
    const id = workerIdentity({
      marker: undefined,
      clusterWorkerId: 2,
      configuredId: 'checkout-1',
      pid: 203,
      ppid: 100,
    });
    assert.equal(id.instanceId, 'checkout-1-w1');
    assert.equal(id.derivedFrom, 'checkout-1');
  });

  test('without a marker: a fresh base and slot = cluster worker id - 1', () => {
    const a = workerIdentity({
      marker: undefined,
      clusterWorkerId: 5,
      configuredId: undefined,
      pid: 204,
      ppid: 100,
    });
    const match = /^(.+)-w(\d+)$/.exec(a.instanceId);
    assert.ok(match, a.instanceId);
    assert.match(match[1] ?? '', UUID);
    assert.equal(match[2], '4');
    assert.equal(a.attributes[ATTR_WORKER_SLOT], 4);
    assert.equal(a.attributes[ATTR_WORKER_ID], 5);
    assert.equal(a.derivedFrom, undefined);
  });

  test('without a marker or a cluster id: a fresh UUID and no worker attributes', () => {
    const id = workerIdentity({
      marker: undefined,
      clusterWorkerId: undefined,
      configuredId: undefined,
      pid: 205,
      ppid: 100,
    });
    assert.match(id.instanceId, UUID);
    assert.deepEqual(Object.keys(id.attributes).sort(), [
      'process.parent_pid',
      'process.pid',
      'service.instance.id',
    ]);
  });
});

describe('standaloneIdentity', () => {
  test('keeps a configured id as is', () => {
    const id = standaloneIdentity({ configuredId: 'api-7', pid: 300, ppid: 1 });
    assert.equal(id.instanceId, 'api-7');
    assert.deepEqual(id.attributes, {
      'service.instance.id': 'api-7',
      'process.pid': 300,
      'process.parent_pid': 1,
    });
    assert.equal(id.derivedFrom, undefined);
  });

  test('otherwise a fresh UUID on each call', () => {
    const a = standaloneIdentity({
      configuredId: undefined,
      pid: 300,
      ppid: 1,
    });
    const b = standaloneIdentity({
      configuredId: undefined,
      pid: 300,
      ppid: 1,
    });
    assert.match(a.instanceId, UUID);
    assert.match(b.instanceId, UUID);
    assert.notEqual(a.instanceId, b.instanceId);
    assert.equal(a.attributes['service.instance.id'], a.instanceId);
  });
});
