'use strict';
// Access-key policy: a key created with --instances <A> --users lk-bob may
// send lk-bob's key to A, and nothing else: another instance, another
// login user, another caller's invocation are each 403 Forbidden.RAM, and
// a refused request leaves no trace (no invocation, nothing run on B).

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

const { Ecs } = c;
const SEND = `cmd-${c.SEND_KEY_NAME}`;

function invocationIdsInLog(file) {
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch (_) { /* no log yet */ }
  return new Set(text.match(/\bt-[0-9A-Za-z]{6,}\b/g) || []);
}

// Every task ever sent to the instance, whoever asked (DescribeInvocations
// shows only the caller's own invocations).
async function countInvocations(admin, instanceId) {
  const res = await admin.request('DescribeCloudAssistantStatus', {
    RegionId: c.env.region, 'InstanceId.1': instanceId,
  });
  const set = res.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus;
  assert.equal(set.length, 1);
  assert.equal(typeof set[0].InvocationCount, 'number', JSON.stringify(set[0]));
  return set[0].InvocationCount;
}

describe('policy: --instances A --users lk-bob', () => {
  let admin;
  let limited;
  let limitedV3;
  let adminInvokeOnB;
  let bCountBefore;
  let bLogIdsBefore;
  const ranOnB = () => path.join(c.env.work, 'policy-ran-on-b');

  before(async () => {
    admin = c.popClient();
    const k = c.createKey('--instances', c.env.instanceA, '--users', 'lk-bob');
    limited = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    limitedV3 = c.v3Client({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    // The admin runs something on B; the limited key must not see it.
    const inv = await admin.request('RunCommand', {
      RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceB,
      CommandContent: 'echo secret-output-of-b',
    });
    adminInvokeOnB = inv.InvokeId;
    const r = await c.waitResult(admin, adminInvokeOnB, c.env.instanceB);
    assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
    bCountBefore = await countInvocations(admin, c.env.instanceB);
    bLogIdsBefore = invocationIdsInLog(c.env.agentBLog);
  });

  it('may send lk-bob\'s key to A; ssh logs in as lk-bob', { timeout: 45000 }, async () => {
    const key = c.keygen('policy-bob');
    const inv = await limited.request('InvokeCommand', {
      RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceA,
      Parameters: JSON.stringify({ username: 'lk-bob', sshPublicKey: key.pub }),
    });
    const r = await c.waitResult(limited, inv.InvokeId, c.env.instanceA);
    assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
    const login = c.sshRun('lk-bob', key.priv, 'id', '-un');
    assert.equal(login.stdout.trim(), 'lk-bob', login.stderr);
  });

  it('InvokeCommand on B: 403 Forbidden.RAM (pop-core and V3)', async () => {
    const key = c.keygen('policy-b');
    await c.popRejects(limited.request('InvokeCommand', {
      RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceB,
      Parameters: JSON.stringify({ username: 'lk-bob', sshPublicKey: key.pub }),
    }), 'Forbidden.RAM', 403);
    await c.v3Rejects(limitedV3.invokeCommand(new Ecs.InvokeCommandRequest({
      regionId: c.env.region, commandId: SEND, instanceId: [c.env.instanceB],
      parameters: { username: 'lk-bob', sshPublicKey: key.pub },
    })), 'Forbidden.RAM', 403);
  });

  it('A and B together: 403 Forbidden.RAM, and A gets nothing either', async () => {
    const before = await countInvocations(admin, c.env.instanceA);
    await c.popRejects(limited.request('RunCommand', {
      RegionId: c.env.region, Type: 'RunShellScript',
      'InstanceId.1': c.env.instanceA, 'InstanceId.2': c.env.instanceB,
      CommandContent: `touch ${ranOnB()}`,
    }), 'Forbidden.RAM', 403);
    assert.equal(await countInvocations(admin, c.env.instanceA), before);
  });

  it('RunCommand on B: 403 Forbidden.RAM', async () => {
    await c.popRejects(limited.request('RunCommand', {
      RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceB,
      CommandContent: `touch ${ranOnB()}`,
    }, { method: 'POST' }), 'Forbidden.RAM', 403);
  });

  for (const [label, params] of [
    ['username lk-alice', (k) => ({ username: 'lk-alice', sshPublicKey: k })],
    ['username left out (defaults to root)', (k) => ({ sshPublicKey: k })],
    ['"UserName" spelled in another case', (k) => ({ UserName: 'lk-alice', sshPublicKey: k })],
  ]) {
    it(`send-key on A with ${label}: 403 Forbidden.RAM; the key does not log in`, async () => {
      const key = c.keygen('policy-alice');
      await c.popRejects(limited.request('InvokeCommand', {
        RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceA,
        Parameters: JSON.stringify(params(key.pub)),
      }), 'Forbidden.RAM', 403);
      await c.sleep(300);
      assert.notEqual(c.sshRun('lk-alice', key.priv, 'true').status, 0);
    });
  }

  it('DescribeInvocationResults of the admin\'s invocation on B: 403 Forbidden.RAM', async () => {
    await c.popRejects(limited.request('DescribeInvocationResults', {
      RegionId: c.env.region, InvokeId: adminInvokeOnB, InstanceId: c.env.instanceB,
    }), 'Forbidden.RAM', 403);
  });

  it('DescribeInvocationResults by InvokeId alone does not show B\'s result either', async () => {
    let res;
    try {
      res = await limited.request('DescribeInvocationResults', {
        RegionId: c.env.region, InvokeId: adminInvokeOnB, ContentEncoding: 'PlainText',
      });
    } catch (e) {
      assert.equal(e.code, 'Forbidden.RAM', e.message);
      return;
    }
    const list = c.resultsOf(res);
    assert.ok(list.every((r) => r.InstanceId !== c.env.instanceB), JSON.stringify(res));
    assert.ok(!JSON.stringify(res).includes('secret-output-of-b'));
  });

  it('a key limited to --actions DescribeCommands: InvokeCommand is 403 Forbidden.RAM', async () => {
    const k = c.createKey('--actions', 'DescribeCommands');
    const ro = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    const res = await ro.request('DescribeCommands', {
      RegionId: c.env.region, Provider: 'AlibabaCloud', Name: c.SEND_KEY_NAME,
    });
    assert.ok(res.Commands.Command.length >= 1);
    await c.popRejects(ro.request('InvokeCommand', {
      RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceB,
      Parameters: JSON.stringify({ username: 'lk-bob', sshPublicKey: c.keygen('ro').pub }),
    }), 'Forbidden.RAM', 403);
  });

  it('the refused requests left no trace: no new invocation on B, nothing ran there', async () => {
    await c.sleep(1500);
    assert.equal(await countInvocations(admin, c.env.instanceB), bCountBefore,
      'InvocationCount of B (DescribeCloudAssistantStatus, admin)');
    const own = await limited.request('DescribeInvocations', { RegionId: c.env.region });
    assert.equal(own.TotalCount, 1, `the limited key's own invocations: ${JSON.stringify(own)}`);
    assert.equal(fs.existsSync(ranOnB()), false, 'the refused RunCommand did not run');
    const after = invocationIdsInLog(c.env.agentBLog);
    const added = [...after].filter((id) => !bLogIdsBefore.has(id));
    assert.deepEqual(added, [], 'B\'s agent log names no new invocation');
  });

  // Last: if the server lets it through, it leaves an invocation behind.
  it('nor through RunCommand (as root, the default Username): 403; lk-alice\'s key does not log in',
    { timeout: 30000 }, async () => {
      const key = c.keygen('policy-runcommand');
      let res;
      try {
        res = await limited.request('RunCommand', {
          RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
          CommandContent: `send_ssh_public_key --username lk-alice --ssh-public-key '${key.pub}'`,
        });
      } catch (e) {
        assert.equal(e.code, 'Forbidden.RAM', e.message);
        assert.equal(e.entry.response.statusCode, 403);
        return;
      }
      const r = await c.waitResult(limited, res.InvokeId, c.env.instanceA);
      const login = c.sshRun('lk-alice', key.priv, 'id', '-un');
      assert.fail(`a key limited to --users lk-bob ran a root script on A (${r.InvocationStatus}, ` +
        `Username ${r.Username || 'root'}); ssh lk-alice with the key it sent: ` +
        `${login.status === 0 ? 'LOGGED IN as ' + login.stdout.trim() : 'refused'}`);
    });
});

// The send-key invocation as a whole (docs/api.md, "Send-key policy"): a
// key limited to --users lk-alice may send lk-alice's key, and the command
// then runs as root (it writes the root-owned key store). That root run is
// all the key gets: another run-as Username, or a WorkingDir (which the
// agent would enter as root, telling whether a root-only path exists), is
// 403 Forbidden.RAM whatever its value, and nothing is recorded or run.
describe('policy: --users lk-alice, the send-key invocation as a whole', () => {
  let admin;
  let alice;
  let aliceV3;
  let aCountBefore;
  const ALICE = 'lk-alice';

  const send = (extra, key) => alice.request('InvokeCommand', Object.assign({
    RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceA,
    Parameters: JSON.stringify({ username: ALICE, sshPublicKey: key || c.keygen('policy-whole').pub }),
  }, extra));

  before(async () => {
    admin = c.popClient();
    const k = c.createKey('--users', ALICE);
    alice = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    aliceV3 = c.v3Client({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    aCountBefore = await countInvocations(admin, c.env.instanceA);
  });

  for (const user of ['lk-bob', 'bob', 'daemon', 'Root', 'nobody']) {
    it(`Username ${user}: 403 Forbidden.RAM`, async () => {
      await c.popRejects(send({ Username: user }), 'Forbidden.RAM', 403);
    });
  }

  it('Username lk-alice (allowed, but the command runs as root only): 400 InvalidParameter.Username',
    async () => {
      await c.popRejects(send({ Username: ALICE }), 'InvalidParameter.Username', 400);
    });

  const dirs = [
    ['/root', '/root'],
    ['/', '/'],
    ['/root/.ssh', '/root/.ssh'],
    ['a path that does not exist', '/nonexistent-policy-probe'],
    ['a dot-dot path', '/tmp/../root'],
    ['a doubled slash', '//root'],
    ['a trailing slash', '/root/'],
    ['a dot segment', '/./root'],
    ['a relative path', 'root'],
    ['a newline', '/root\n/tmp'],
    ['a tab', '/root\t'],
    ['shell syntax', '/tmp;touch /tmp/policy-wd-ran'],
    ['a command substitution', '/$(id)'],
    ['right-to-left override', '/root\u202e'],
    ['invalid UTF-8 (Latin-1 bytes)', Buffer.from([0x2f, 0xe9, 0xff]).toString('latin1')],
    ['5000 bytes', `/${'a'.repeat(4999)}`],
  ];
  for (const [what, wd] of dirs) {
    it(`WorkingDir ${what}: 403 Forbidden.RAM (root, default Username)`, async () => {
      await c.popRejects(send({ WorkingDir: wd }), 'Forbidden.RAM', 403);
    });
  }

  it('WorkingDir /root with Username root given explicitly: 403 Forbidden.RAM', async () => {
    await c.popRejects(send({ Username: 'root', WorkingDir: '/root' }), 'Forbidden.RAM', 403);
  });

  it('WorkingDir /root by command name, and by the V3 client: 403 Forbidden.RAM', async () => {
    await c.popRejects(send({ CommandId: c.SEND_KEY_NAME, WorkingDir: '/root' }), 'Forbidden.RAM', 403);
    await c.v3Rejects(aliceV3.invokeCommand(new Ecs.InvokeCommandRequest({
      regionId: c.env.region, commandId: SEND, instanceId: [c.env.instanceA],
      workingDir: '/root',
      parameters: { username: ALICE, sshPublicKey: c.keygen('policy-v3').pub },
    })), 'Forbidden.RAM', 403);
    await c.v3Rejects(aliceV3.invokeCommand(new Ecs.InvokeCommandRequest({
      regionId: c.env.region, commandId: SEND, instanceId: [c.env.instanceA],
      username: 'lk-bob',
      parameters: { username: ALICE, sshPublicKey: c.keygen('policy-v3').pub },
    })), 'Forbidden.RAM', 403);
  });

  it('a key that may run as root: send-key as lk-bob is 400 InvalidParameter.Username', async () => {
    await c.popRejects(admin.request('InvokeCommand', {
      RegionId: c.env.region, CommandId: SEND, 'InstanceId.1': c.env.instanceA,
      Username: 'lk-bob',
      Parameters: JSON.stringify({ username: 'lk-bob', sshPublicKey: c.keygen('policy-admin').pub }),
    }), 'InvalidParameter.Username', 400);
  });

  it('the refused calls left no trace: no invocation listed, none sent to A', async () => {
    const own = await alice.request('DescribeInvocations', { RegionId: c.env.region });
    assert.equal(own.TotalCount, 0, `the key's own invocations: ${JSON.stringify(own)}`);
    assert.equal(await countInvocations(admin, c.env.instanceA), aCountBefore,
      'InvocationCount of A (DescribeCloudAssistantStatus, admin)');
    assert.equal(fs.existsSync('/tmp/policy-wd-ran'), false);
  });

  for (const [label, extra] of [
    ['no Username, no WorkingDir', {}],
    ['Username root, WorkingDir empty', { Username: 'root', WorkingDir: '' }],
  ]) {
    it(`the allowed shape (${label}) runs as root; ssh logs in as lk-alice`, { timeout: 45000 },
      async () => {
        const key = c.keygen('policy-alice-ok');
        const inv = await send(extra, key.pub);
        const r = await c.waitResult(alice, inv.InvokeId, c.env.instanceA);
        assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
        assert.equal(r.Username, 'root', JSON.stringify(r));
        const login = c.sshRun(ALICE, key.priv, 'id', '-un');
        assert.equal(login.stdout.trim(), ALICE, login.stderr);
      });
  }
});
