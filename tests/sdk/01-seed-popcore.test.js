'use strict';
// The seed flow with @alicloud/pop-core (signature 1.0), GET and POST:
// DescribeCommands -> the Latest version of ACS-ECS-SendSshPublicKey-linux.sh
// -> InvokeCommand with {"username","sshPublicKey"} -> DescribeInvocationResults
// until Success -> the real ssh client logs in to the real sshd with the key.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const c = require('./common');

const USER = 'lk-alice';

// Sends a fresh key for USER through InvokeCommand with commandId, waits
// for Success and checks that exactly that key logs in (and only as USER).
async function sendAndLogin(client, commandId, method) {
  const key = c.keygen(`pop-${method}`);
  const before = c.sshRun(USER, key.priv, 'id', '-un');
  assert.notEqual(before.status, 0, 'the fresh key must not log in before it is sent');
  const params = {
    RegionId: c.env.region,
    CommandId: commandId,
    'InstanceId.1': c.env.instanceA,
    Parameters: JSON.stringify({ username: USER, sshPublicKey: key.pub }),
  };
  const inv = await client.request('InvokeCommand', params, { method });
  assert.equal(typeof inv.RequestId, 'string');
  assert.match(inv.InvokeId, /^t-[0-9a-zA-Z]+$/);
  assert.equal(inv.Code, undefined, 'a success has no Code');
  const r = await c.waitResult(client, inv.InvokeId, c.env.instanceA, 30000, { method });
  assert.equal(r.InvocationStatus, 'Success', `result: ${JSON.stringify(r)}`);
  assert.equal(r.ExitCode, 0);
  assert.equal(r.InvokeRecordStatus, 'Finished');
  assert.equal(r.InvokeId, inv.InvokeId);
  assert.equal(r.InstanceId, c.env.instanceA);
  assert.equal(r.ErrorCode || '', '');
  const login = c.sshRun(USER, key.priv, 'id', '-un');
  assert.equal(login.status, 0, `ssh as ${USER}: ${login.stderr}`);
  assert.equal(login.stdout.trim(), USER);
  const other = c.sshRun('lk-bob', key.priv, 'id', '-un');
  assert.notEqual(other.status, 0, 'the key must not open lk-bob');
  return { inv, result: r };
}

describe('pop-core (signature 1.0)', () => {
  let client;
  let latest;

  before(() => { client = c.popClient(); });

  it('the official plug-in\'s first step: RunCommand Base64 "acs-plugin-manager ... --install", Timeout=5',
    { timeout: 45000 }, async () => {
      // test_sdk.sh installed the plug-in already; this one must succeed
      // too (an install is idempotent).
      const inv = await client.request('RunCommand', {
        RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
        ContentEncoding: 'Base64', Timeout: 5,
        CommandContent: Buffer.from('acs-plugin-manager -e -P config_ecs_instance_connect ' +
          '--params --install').toString('base64'),
      });
      assert.match(inv.InvokeId, /^t-/);
      assert.match(inv.CommandId, /\S/);
      const r = await c.waitResult(client, inv.InvokeId, c.env.instanceA);
      assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
      assert.equal(r.ExitCode, 0);
    });

  for (const method of ['GET', 'POST']) {
    it(`${method}: DescribeCommands Provider=AlibabaCloud lists the public command`, async () => {
      const res = await client.request('DescribeCommands', {
        RegionId: c.env.region, Provider: 'AlibabaCloud', Name: c.SEND_KEY_NAME,
      }, { method });
      assert.equal(typeof res.RequestId, 'string');
      assert.equal(typeof res.TotalCount, 'number', 'TotalCount is a number');
      const list = res.Commands.Command;
      assert.ok(Array.isArray(list) && list.length >= 1, JSON.stringify(res));
      for (const cmd of list) {
        assert.equal(cmd.Name, c.SEND_KEY_NAME);
        assert.equal(cmd.Provider, 'AlibabaCloud');
        assert.equal(cmd.Type, 'RunShellScript');
        assert.equal(typeof cmd.Latest, 'boolean', 'Latest is a boolean');
        assert.equal(typeof cmd.Timeout, 'number', 'Timeout is a number');
        assert.equal(cmd.EnableParameter, true);
        const names = cmd.ParameterNames.ParameterName.map((n) => n.toLowerCase());
        assert.ok(names.includes('username') && names.includes('sshpublickey'),
          `ParameterNames: ${JSON.stringify(cmd.ParameterNames)}`);
        // CommandContent is Base64 unless ContentEncoding=PlainText.
        const text = Buffer.from(cmd.CommandContent, 'base64').toString('utf8');
        assert.match(text, /send_ssh_public_key/, 'content decodes from Base64');
      }
      const l = list.filter((cmd) => cmd.Latest === true);
      assert.equal(l.length, 1, 'exactly one Latest version');
      latest = l[0];
      assert.match(latest.CommandId, /\S/);
    });

    it(`${method}: InvokeCommand (the Latest CommandId) sends lk-alice's key; ssh logs in`,
      { timeout: 45000 }, async () => {
        assert.ok(latest, 'DescribeCommands found the Latest version');
        await sendAndLogin(client, latest.CommandId, method);
      });
  }

  it('InvokeCommand by name CommandId=ACS-ECS-SendSshPublicKey-linux.sh', { timeout: 45000 },
    async () => { await sendAndLogin(client, c.SEND_KEY_NAME, 'GET'); });

  it('InvokeCommand by CommandId=cmd-ACS-ECS-SendSshPublicKey-linux.sh (what the official plug-in sends)',
    { timeout: 45000 },
    async () => { await sendAndLogin(client, `cmd-${c.SEND_KEY_NAME}`, 'POST'); });

  it('DescribeInvocationResults returns Base64 Output by default, PlainText on request',
    { timeout: 45000 }, async () => {
      const inv = await client.request('RunCommand', {
        RegionId: c.env.region, Type: 'RunShellScript',
        CommandContent: 'printf "hello %s\\n" "$(id -un)"',
        'InstanceId.1': c.env.instanceA,
      });
      const r = await c.waitResult(client, inv.InvokeId, c.env.instanceA);
      assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
      assert.equal(r.Output, 'hello root\n');
      const res = await client.request('DescribeInvocationResults', {
        RegionId: c.env.region, InvokeId: inv.InvokeId, InstanceId: c.env.instanceA,
      });
      const b = c.resultsOf(res)[0];
      assert.equal(Buffer.from(b.Output, 'base64').toString('utf8'), 'hello root\n');
      assert.equal(typeof res.Invocation.TotalCount, 'number');
      assert.equal(b.Dropped, 0);
    });
});
