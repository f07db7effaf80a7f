'use strict';
// The end of the case 00-online.test.js started: agent C was killed -9
// during `sleep 30`. The server marks a Running task whose agent has not
// polled for 90 s as Failed with ErrorCode ClientNotResponse (see
// docs/agent-protocol.md), so this waits at most until 110 s after the
// kill; the other files ran in the meantime.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

const DEAD_AFTER_MS = 90000;
const MARGIN_MS = 20000; // the server's 5 s sweep, a poll in progress, slow builds

describe('agent C killed -9 mid-command', () => {
  it('the invocation ends Failed with ErrorCode ClientNotResponse',
    { timeout: DEAD_AFTER_MS + MARGIN_MS + 15000 }, async () => {
      const file = path.join(c.env.work, 'agent-killed.json');
      assert.ok(fs.existsSync(file), 'the start of this case (00-online) ran');
      const { invokeId, killedAt } = JSON.parse(fs.readFileSync(file, 'utf8'));
      const pop = c.popClient();
      const deadline = killedAt + DEAD_AFTER_MS + MARGIN_MS;
      let r;
      for (;;) {
        const res = await pop.request('DescribeInvocationResults', {
          RegionId: c.env.region, InvokeId: invokeId, InstanceId: c.env.instanceC,
        });
        r = c.resultsOf(res)[0];
        if (r && !c.UNFINISHED.has(r.InvocationStatus)) break;
        if (Date.now() > deadline) {
          assert.fail(`still ${r && r.InvocationStatus} ${Math.round((Date.now() - killedAt) / 1000)} s after the kill`);
        }
        await c.sleep(1000);
      }
      const waited = Math.round((Date.now() - killedAt) / 1000);
      assert.equal(r.InvocationStatus, 'Failed', `${JSON.stringify(r)} (${waited} s after the kill)`);
      assert.equal(r.ErrorCode, 'ClientNotResponse', JSON.stringify(r));
      assert.equal(typeof r.ErrorInfo, 'string');
      // Not before the server's documented 90 s (minus a poll's 30 s).
      assert.ok(Date.now() - killedAt >= DEAD_AFTER_MS - 30000, `ended after only ${waited} s`);
    });

  it('DescribeCloudAssistantStatus shows C offline ("false"), A still online', async () => {
    const res = await c.popClient().request('DescribeCloudAssistantStatus', {
      RegionId: c.env.region, InstanceId: [c.env.instanceA, c.env.instanceC],
    });
    const set = res.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus;
    const by = Object.fromEntries(set.map((s) => [s.InstanceId, s.CloudAssistantStatus]));
    assert.equal(by[c.env.instanceC], 'false', JSON.stringify(set));
    assert.equal(by[c.env.instanceA], 'true', JSON.stringify(set));
  });
});
