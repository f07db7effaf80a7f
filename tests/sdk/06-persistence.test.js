'use strict';
// Crash safety of latchkeyd: kill -9 while an invocation is in flight,
// restart on the same database and port; the invocation ends Success and
// its script ran exactly once. What was recorded before the crash (the
// invocation list, used nonces, access keys) is still there.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

describe('latchkeyd killed -9 with an invocation in flight', () => {
  let pop;
  let invokeId;
  let countBefore;
  const nonce = crypto.randomUUID();
  const once = () => path.join(c.env.work, 'once.txt');

  before(async () => {
    pop = c.popClient();
    // A nonce used before the crash.
    await pop.request('DescribeCommands', { RegionId: c.env.region, SignatureNonce: nonce });
  });

  it('the invocation is Running on A, then latchkeyd is killed -9 and stays down 5 s',
    { timeout: 30000 }, async () => {
      const inv = await pop.request('RunCommand', {
        RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
        Name: 'sdk-persistence', Timeout: 60,
        CommandContent: `sleep 3; echo done >> ${once()}`,
      });
      invokeId = inv.InvokeId;
      await c.waitStatus(pop, invokeId, c.env.instanceA, 'Running', 15000);
      const res = await pop.request('DescribeInvocations', { RegionId: c.env.region });
      countBefore = res.TotalCount;
      c.killLkd9();
      await c.waitPortClosed(c.env.lkdPort);
      // The script finishes (after 3 s) while the server is down: the
      // agent's report fails and must be retried.
      await c.sleep(5000);
      assert.equal(fs.readFileSync(once(), 'utf8'), 'done\n', 'the script ran meanwhile');
    });

  it('restarted on the same database and port, it ends Success', { timeout: 45000 }, async () => {
    assert.ok(invokeId, 'the first step ran');
    await c.startLkd();
    const r = await c.waitResult(pop, invokeId, c.env.instanceA, 35000);
    assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
    assert.equal(r.ExitCode, 0);
  });

  it('the script ran exactly once (one line), and still once 3 s later', { timeout: 15000 },
    async () => {
      assert.equal(fs.readFileSync(once(), 'utf8'), 'done\n');
      await c.sleep(3000);
      assert.equal(fs.readFileSync(once(), 'utf8'), 'done\n');
      const res = await pop.request('DescribeInvocationResults', {
        RegionId: c.env.region, InvokeId: invokeId, InstanceId: c.env.instanceA,
      });
      const list = c.resultsOf(res);
      assert.equal(list.length, 1);
      assert.equal(list[0].InvocationStatus, 'Success');
    });

  it('what was recorded before the crash is still there', async () => {
    const res = await pop.request('DescribeInvocations', { RegionId: c.env.region });
    assert.ok(res.TotalCount >= countBefore, `${res.TotalCount} < ${countBefore}`);
    const one = await pop.request('DescribeInvocations', {
      RegionId: c.env.region, InvokeId: invokeId,
    });
    assert.equal(one.Invocations.Invocation.length, 1);
    assert.equal(one.Invocations.Invocation[0].InvokeId, invokeId);
  });

  it('a nonce used before the crash is still refused after it', async () => {
    await c.popRejects(pop.request('DescribeCommands', {
      RegionId: c.env.region, SignatureNonce: nonce,
    }), 'SignatureNonceUsed', 400);
  });

  it('the agent reconnected: a new RunCommand on A succeeds', { timeout: 45000 }, async () => {
    const inv = await pop.request('RunCommand', {
      RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
      CommandContent: 'echo after-restart',
    });
    const r = await c.waitResult(pop, inv.InvokeId, c.env.instanceA, 40000);
    assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
    assert.equal(r.Output, 'after-restart\n');
  });
});
