'use strict';
// The managed-instance lifecycle (issue 18): CreateActivation,
// DescribeActivations, DisableActivation, DeleteActivation,
// DescribeManagedInstances, ModifyManagedInstance and
// DeregisterManagedInstance through both SDKs, their error codes, the
// policy (activations only for keys without an Instances policy; instances
// by the Instances policy), and a registration refused by a disabled
// activation or a wrong code, with its reason in latchkeyd's log. The
// instances A, B and C of test_sdk.sh are only read and renamed back; the
// deregistration of a running agent is tests/integration/test_fleet.sh's.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const c = require('./common');

const { Ecs } = c;

function register(id, code) {
  return c.rawHttp('POST', '/agent/v1/register', {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      activation_id: id, activation_code: code, hostname: 'sdk-fleet',
      os: 'Linux', version: '1.4.0', addresses: ['127.0.0.1'],
    }),
  });
}

// One statement on latchkeyd's database (SQLite through python3's module,
// PostgreSQL through psql): how a test moves an activation's expiry into
// the past without waiting for it.
function sql(stmt) {
  const pg = /^postgres(ql)?:/.test(c.env.db);
  const r = pg
    ? spawnSync('psql', [c.env.db, '-qAtc', stmt], { encoding: 'utf8' })
    : spawnSync('python3', ['-c', 'import sqlite3, sys\n'
      + 'd = sqlite3.connect(sys.argv[1], timeout=10)\n'
      + 'd.execute(sys.argv[2]); d.commit()', c.env.db, stmt], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${stmt}: ${r.stderr}`);
}

// What every latchkeyd logged: behind HAProxy the registration may have
// been refused by any replica.
function logText() {
  return c.env.lkdLogs.map((f) => {
    try { return fs.readFileSync(f, 'utf8'); } catch (_) { return ''; }
  }).join('\n');
}

describe('activations', () => {
  let pop;
  let v3;
  let act;

  before(() => {
    pop = c.popClient();
    v3 = c.v3Client();
  });

  it('CreateActivation (V3) answers ActivationId and ActivationCode', async () => {
    const res = await v3.createActivation(new Ecs.CreateActivationRequest({
      regionId: c.env.region, instanceCount: 2, instanceName: 'fleet',
      timeToLiveInHours: 1, ipAddressRange: '127.0.0.0/8', description: 'sdk',
    }));
    act = res.body;
    assert.match(act.activationId, /^act-[0-9a-f]{32}$/);
    assert.match(act.activationCode, /^\S{20}$/);
    assert.equal(typeof act.requestId, 'string');
  });

  it('DescribeActivations (pop-core and V3) shows it', async () => {
    const r = await pop.request('DescribeActivations', {
      RegionId: c.env.region, ActivationId: act.activationId,
    });
    assert.equal(r.TotalCount, 1);
    const a = r.ActivationList[0];
    assert.equal(a.ActivationId, act.activationId);
    assert.equal(a.InstanceCount, 2);
    assert.equal(a.InstanceName, 'fleet');
    assert.equal(a.IpAddressRange, '127.0.0.0/8');
    assert.equal(a.Description, 'sdk');
    assert.equal(a.TimeToLiveInHours, 1);
    assert.equal(a.RegisteredCount, 0);
    assert.equal(a.DeregisteredCount, 0);
    assert.equal(a.Disabled, false);
    const v = await v3.describeActivations(new Ecs.DescribeActivationsRequest({
      regionId: c.env.region, instanceName: 'fleet', pageSize: 50,
    }));
    assert.ok(v.body.activationList.some((x) => x.activationId === act.activationId));
    assert.equal(v.body.pageSize, 50);
  });

  it('a registration with it gets a name from its prefix', async () => {
    const r = await register(act.activationId, act.activationCode);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.instance_name, 'fleet-1');
    const m = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, ActivationId: act.activationId,
    });
    assert.equal(m.TotalCount, 1);
    assert.equal(m.Instances[0].InstanceId, r.json.instance_id);
    assert.equal(m.Instances[0].InstanceName, 'fleet-1');
    // In use: DeleteActivation refuses; deregistered, it may go.
    await c.popRejects(pop.request('DeleteActivation', {
      RegionId: c.env.region, ActivationId: act.activationId,
    }), 'ActivationId.InUse', 403);
    const d = await v3.deregisterManagedInstance(new Ecs.DeregisterManagedInstanceRequest({
      regionId: c.env.region, instanceId: r.json.instance_id,
    }));
    assert.equal(d.body.instance.instanceId, r.json.instance_id);
    assert.equal(d.body.instance.activationId, act.activationId);
    await c.v3Rejects(v3.deregisterManagedInstance(new Ecs.DeregisterManagedInstanceRequest({
      regionId: c.env.region, instanceId: r.json.instance_id,
    })), 'InvalidInstance.NotFound', 404);
    const a = (await pop.request('DescribeActivations', {
      RegionId: c.env.region, ActivationId: act.activationId,
    })).ActivationList[0];
    assert.equal(a.RegisteredCount, 1);
    assert.equal(a.DeregisteredCount, 1);
  });

  it('DisableActivation: refused registrations, the reason in the log', async () => {
    const wrong = await register(act.activationId, 'not-the-code');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.reason, 'wrong-id-or-code');
    const unknown = await register('act-nosuch', 'x');
    assert.equal(unknown.status, 403);
    assert.equal(unknown.json.reason, 'wrong-id-or-code', 'an unknown id reads as a wrong code');
    const res = await v3.disableActivation(new Ecs.DisableActivationRequest({
      regionId: c.env.region, activationId: act.activationId,
    }));
    assert.equal(res.body.activation.disabled, true);
    const r = await register(act.activationId, act.activationCode);
    assert.equal(r.status, 403);
    assert.equal(r.json.reason, 'disabled');
    const log = logText();
    assert.match(log, new RegExp(`agent register refused" activation=${act.activationId} .*reason=wrong-code`));
    assert.match(log, /agent register refused" activation=act-nosuch .*reason=unknown-activation/);
    assert.match(log, new RegExp(`agent register refused" activation=${act.activationId} .*reason=disabled`));
  });

  it('an expired activation: refused as expired, the reason in the log', async () => {
    const res = await v3.createActivation(new Ecs.CreateActivationRequest({
      regionId: c.env.region, instanceCount: 1, timeToLiveInHours: 1,
      description: 'to expire',
    }));
    const e = res.body;
    assert.match(e.activationId, /^act-/);
    sql(`UPDATE activations SET expires = 1 WHERE id = '${e.activationId}'`);
    const r = await register(e.activationId, e.activationCode);
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.reason, 'expired');
    const wrong = await register(e.activationId, 'not-the-code');
    assert.equal(wrong.json.reason, 'wrong-id-or-code', 'a wrong code says nothing of the expiry');
    assert.match(logText(), new RegExp(`agent register refused" activation=${e.activationId} .*reason=expired`));
  });

  it('DeleteActivation (pop-core), then it is unknown', async () => {
    const r = await pop.request('DeleteActivation', {
      RegionId: c.env.region, ActivationId: act.activationId,
    });
    assert.equal(r.Activation.ActivationId, act.activationId);
    await c.popRejects(pop.request('DeleteActivation', {
      RegionId: c.env.region, ActivationId: act.activationId,
    }), 'InvalidActivationId.NotFound', 404);
    await c.v3Rejects(v3.disableActivation(new Ecs.DisableActivationRequest({
      regionId: c.env.region, activationId: act.activationId,
    })), 'InvalidActivationId.NotFound', 404);
  });

  it('parameters are checked', async () => {
    await c.popRejects(pop.request('CreateActivation', {
      RegionId: c.env.region, InstanceCount: 1001,
    }), 'InvalidParameter', 400);
    await c.popRejects(pop.request('CreateActivation', {
      RegionId: c.env.region, IpAddressRange: '10.0.0.1/8',
    }), 'InvalidIpAddressRange.Malformed', 400);
    await c.popRejects(pop.request('CreateActivation', {
      RegionId: c.env.region, InstanceName: '1bad',
    }), 'InvalidInstanceName.Malformed', 400);
    await c.popRejects(pop.request('DisableActivation', {
      RegionId: c.env.region,
    }), 'MissingActivationId', 400);
  });
});

describe('managed instances', () => {
  let pop;
  let v3;

  before(() => {
    pop = c.popClient();
    v3 = c.v3Client();
  });

  it('DescribeManagedInstances filters (V3 and pop-core)', async () => {
    const r = await v3.describeManagedInstances(new Ecs.DescribeManagedInstancesRequest({
      regionId: c.env.region, instanceId: [c.env.instanceA],
    }));
    assert.equal(r.body.totalCount, 1);
    const m = r.body.instances[0];
    assert.equal(m.instanceId, c.env.instanceA);
    assert.equal(m.connected, true);
    assert.equal(m.osType, 'Linux');
    assert.match(m.registrationTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const byIp = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, InstanceIp: m.intranetIp, 'InstanceId.1': c.env.instanceA,
    });
    assert.equal(byIp.TotalCount, 1);
    const off = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, Connected: 'false', 'InstanceId.1': c.env.instanceA,
    });
    assert.equal(off.TotalCount, 0);
    const none = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, MachineId: 'no-such-machine',
    });
    assert.equal(none.TotalCount, 0);
    await c.popRejects(pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, Connected: 'maybe',
    }), 'InvalidParameter.Connected', 400);
  });

  it('ModifyManagedInstance renames (and back)', async () => {
    const before = (await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, 'InstanceId.1': c.env.instanceB,
    })).Instances[0].InstanceName;
    const r = await v3.modifyManagedInstance(new Ecs.ModifyManagedInstanceRequest({
      regionId: c.env.region, instanceId: c.env.instanceB, instanceName: 'renamed-b',
    }));
    assert.equal(r.body.instance.instanceName, 'renamed-b');
    const byName = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, InstanceName: 'renamed-b',
    });
    assert.equal(byName.Instances[0].InstanceId, c.env.instanceB);
    await c.popRejects(pop.request('ModifyManagedInstance', {
      RegionId: c.env.region, InstanceId: c.env.instanceB, InstanceName: 'bad name',
    }), 'InvalidInstanceName.Malformed', 400);
    await c.popRejects(pop.request('ModifyManagedInstance', {
      RegionId: c.env.region, InstanceId: 'i-nosuch', InstanceName: 'x1',
    }), 'InvalidInstance.NotFound', 404);
    // Back to the name the other tests know (hostnames may start with a digit).
    if (/^[A-Za-z][A-Za-z0-9._:-]+$/.test(before)) {
      await pop.request('ModifyManagedInstance', {
        RegionId: c.env.region, InstanceId: c.env.instanceB, InstanceName: before,
      });
    } else {
      c.admin('instance', 'rename', c.env.instanceB, 'agent-b');
    }
  });
});

describe('policy', () => {
  it('a key with an Instances policy: no activations, only its instances', async () => {
    const k = c.createKey('--instances', c.env.instanceA);
    const pop = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    const v3 = c.v3Client({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(pop.request('CreateActivation', { RegionId: c.env.region }),
      'Forbidden.RAM', 403);
    await c.v3Rejects(v3.describeActivations(new Ecs.DescribeActivationsRequest({
      regionId: c.env.region,
    })), 'Forbidden.RAM', 403);
    const m = await pop.request('DescribeManagedInstances', { RegionId: c.env.region });
    assert.deepEqual(m.Instances.map((x) => x.InstanceId), [c.env.instanceA]);
    await c.popRejects(pop.request('DeregisterManagedInstance', {
      RegionId: c.env.region, InstanceId: c.env.instanceB,
    }), 'Forbidden.RAM', 403);
    await c.v3Rejects(v3.modifyManagedInstance(new Ecs.ModifyManagedInstanceRequest({
      regionId: c.env.region, instanceId: c.env.instanceB, instanceName: 'mine',
    })), 'Forbidden.RAM', 403);
    // A rename out of its own policy is refused too (it names A by id).
    const ok = await pop.request('DescribeManagedInstances', {
      RegionId: c.env.region, 'InstanceId.1': c.env.instanceB,
    });
    assert.equal(ok.TotalCount, 0);
  });

  it('a key whose Actions list lacks them: 403', async () => {
    const k = c.createKey('--actions', 'DescribeInstances');
    const pop = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(pop.request('CreateActivation', { RegionId: c.env.region }),
      'Forbidden.RAM', 403);
    await c.popRejects(pop.request('DescribeManagedInstances', { RegionId: c.env.region }),
      'Forbidden.RAM', 403);
  });
});
