'use strict';
// The three agents are online, and the slow half of the "agent killed
// mid-command" case starts here: its end (ClientNotResponse, ~90 s after
// the agent stopped polling) is checked by 99-agent-killed.test.js, so the
// other files run while the server waits.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

describe('agents', () => {
  it('DescribeCloudAssistantStatus shows A, B and C online', { timeout: 30000 }, async () => {
    const client = c.popClient();
    const ids = [c.env.instanceA, c.env.instanceB, c.env.instanceC];
    const deadline = Date.now() + 20000;
    let set;
    for (;;) {
      const res = await client.request('DescribeCloudAssistantStatus', {
        RegionId: c.env.region, InstanceId: ids,
      });
      set = res.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus;
      assert.ok(Array.isArray(set), 'InstanceCloudAssistantStatus is an array');
      if (set.length === 3 && set.every((s) => s.CloudAssistantStatus === 'true')) break;
      if (Date.now() > deadline) assert.fail(`not online: ${JSON.stringify(set)}`);
      await c.sleep(300);
    }
    assert.deepEqual(set.map((s) => s.InstanceId).sort(), [...ids].sort());
  });

  it('agent C: a `sleep 30` RunCommand is Running, then the agent is killed -9',
    { timeout: 30000 }, async () => {
      const client = c.popClient();
      const res = await client.request('RunCommand', {
        RegionId: c.env.region, Type: 'RunShellScript',
        CommandContent: 'sleep 30; echo finished', Timeout: 120,
        InstanceId: [c.env.instanceC], Name: 'sdk-agent-killed',
      });
      assert.match(res.InvokeId, /^t-/);
      await c.waitStatus(client, res.InvokeId, c.env.instanceC, 'Running', 15000);
      const pid = Number(fs.readFileSync(c.env.agentCPidfile, 'utf8'));
      process.kill(pid, 'SIGKILL');
      fs.writeFileSync(path.join(c.env.work, 'agent-killed.json'), JSON.stringify({
        invokeId: res.InvokeId, killedAt: Date.now(),
      }));
    });
});
