// Unit tests of src/pm2.ts: reading pm2_env and the instance-keyed service.instance.id.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  parsePm2Env,
  pm2Identity,
  pm2ProcessFrom,
} from '../../src/identity/pm2.ts';

const PM2_ENV = JSON.stringify({
  name: 'api',
  pm_id: 7,
  NODE_APP_INSTANCE: 2,
  instance_var: 'NODE_APP_INSTANCE',
  PM2_HOME: '/home/u/.pm2',
});

describe('parsePm2Env', () => {
  const cases: Array<{
    name: string;
    raw: string | undefined;
    instanceVar?: string;
    expect: ReturnType<typeof parsePm2Env>;
  }> = [
    {
      name: 'a cluster instance',
      raw: PM2_ENV,
      expect: { name: 'api', pmId: 7, instance: 2, home: '/home/u/.pm2' },
    },
    {
      name: "the app's own instance_var",
      raw: JSON.stringify({
        name: 'a',
        pm_id: 1,
        instance_var: 'INST',
        INST: 3,
      }),
      expect: { name: 'a', pmId: 1, instance: 3, home: '' },
    },
    {
      name: "the daemon's PM2_PROCESS_INSTANCE_VAR wins",
      raw: JSON.stringify({ pm_id: 1, NODE_APP_INSTANCE: 0, OTHER: 5 }),
      instanceVar: 'OTHER',
      expect: { name: '', pmId: 1, instance: 5, home: '' },
    },
    {
      name: "pm2's kill_timeout",
      raw: JSON.stringify({
        pm_id: 2,
        NODE_APP_INSTANCE: 1,
        kill_timeout: 1600,
      }),
      expect: {
        name: '',
        pmId: 2,
        instance: 1,
        home: '',
        killTimeoutMillis: 1600,
      },
    },
    { name: 'absent', raw: undefined, expect: undefined },
    { name: 'not JSON', raw: '{', expect: undefined },
    { name: 'JSON but not an object', raw: '42', expect: undefined },
    {
      name: 'no instance number',
      raw: JSON.stringify({ pm_id: 1 }),
      expect: undefined,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(parsePm2Env(c.raw, c.instanceVar), c.expect);
    });
  }
});

describe('pm2ProcessFrom (fork mode: pm2 spreads its fields into the environment)', () => {
  test('string values from the environment', () => {
    assert.deepEqual(
      pm2ProcessFrom(
        { name: 'api', pm_id: '4', NODE_APP_INSTANCE: '0', PM2_HOME: '/h' },
        undefined
      ),
      { name: 'api', pmId: 4, instance: 0, home: '/h' }
    );
  });
  test('an ordinary environment is not pm2', () => {
    assert.equal(pm2ProcessFrom({ PATH: '/bin' }, undefined), undefined);
    assert.equal(
      pm2ProcessFrom({ pm_id: '', NODE_APP_INSTANCE: '' }, undefined),
      undefined
    );
  });
});

describe('pm2Identity', () => {
  const pm2 = { name: 'api', pmId: 7, instance: 2, home: '/h' };
  const base = { pm2, clusterWorkerId: 9, pid: 100, ppid: 1, host: 'web-1' };

  test('the same instance on the same host and app gets the same id (reload)', () => {
    const a = pm2Identity({ ...base, configuredId: undefined });
    const b = pm2Identity({
      ...base,
      pm2: { ...pm2, pmId: 7 },
      configuredId: undefined,
      clusterWorkerId: 13,
      pid: 200,
    });
    assert.equal(a.instanceId, b.instanceId);
    assert.match(a.instanceId, /^[0-9a-f-]{36}-w2$/);
    assert.equal(a.attributes['nodejs.cluster.worker.slot'], 2);
    assert.equal(a.attributes['nodejs.cluster.worker.id'], 9);
    assert.equal(a.attributes['nodejs.pm2.pm_id'], 7);
  });

  test('other instances, apps and hosts get other ids', () => {
    const ids = new Set(
      [
        pm2Identity({ ...base, configuredId: undefined }),
        pm2Identity({
          ...base,
          pm2: { ...pm2, instance: 3 },
          configuredId: undefined,
        }),
        pm2Identity({
          ...base,
          pm2: { ...pm2, name: 'web' },
          configuredId: undefined,
        }),
        pm2Identity({ ...base, host: 'web-2', configuredId: undefined }),
      ].map(i => i.instanceId)
    );
    assert.equal(ids.size, 4);
  });

  test('a configured service.instance.id becomes the base', () => {
    const id = pm2Identity({ ...base, configuredId: 'svc-a' });
    assert.equal(id.instanceId, 'svc-a-w2');
    assert.equal(id.derivedFrom, 'svc-a');
  });
});
