'use strict';
// SendFile and DescribeSendFileResults through the official SDKs: the V3
// client (ACS3-HMAC-SHA256, the generated models) sends text and binary
// files to a real agent and reads the results; pop-core (signature 1.0)
// checks the refusals and their codes. The agent writes into the scratch
// root ($LK_T/sendfile-sdk), as root unless a FileOwner is given.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

const { Ecs } = c;
const R = () => c.env.region;

async function waitSend(v3, invokeId, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const res = await v3.describeSendFileResults(new Ecs.DescribeSendFileResultsRequest({
      regionId: R(), invokeId,
    }));
    const inv = res.body.invocations.invocation[0];
    if (inv && !['Pending', 'Running'].includes(inv.invocationStatus)) return inv;
    if (Date.now() > end) assert.fail(`still ${inv && inv.invocationStatus}`);
    await c.sleep(200);
  }
}

describe('SendFile with the V3 client', () => {
  let v3;
  let dir;
  before(() => {
    v3 = c.v3Client();
    dir = path.join(c.env.scratch, 'sendfile-sdk');
  });

  it('a text file arrives byte for byte, root:root 0644, and the results describe it', async () => {
    const text = 'line one\nligne deux é\n';
    const res = await v3.sendFile(new Ecs.SendFileRequest({
      regionId: R(), instanceId: [c.env.instanceA], name: 'a.txt',
      targetDir: path.join(dir, 'text'), content: text,
      description: 'from the SDK',
    }));
    assert.match(res.body.invokeId, /^f-[0-9a-f]{32}$/);
    const inv = await waitSend(v3, res.body.invokeId);
    assert.equal(inv.invocationStatus, 'Success');
    assert.equal(inv.name, 'a.txt');
    assert.equal(inv.fileMode, '0644');
    assert.equal(inv.fileOwner, 'root');
    assert.equal(inv.overwrite, 'false');
    assert.equal(inv.contentType, 'PlainText');
    assert.equal(inv.content, text);
    assert.equal(inv.description, 'from the SDK');
    assert.equal(inv.vmCount, 1);
    const one = inv.invokeInstances.invokeInstance[0];
    assert.equal(one.instanceId, c.env.instanceA);
    assert.equal(one.invocationStatus, 'Success');
    assert.equal(one.errorCode, '');
    const f = path.join(dir, 'text', 'a.txt');
    assert.equal(fs.readFileSync(f, 'utf8'), text);
    const st = fs.statSync(f);
    assert.equal(st.mode & 0o7777, 0o644);
    assert.equal(st.uid, 0);
  });

  it('binary through Base64 to two instances, mode 0600: identical bytes', async () => {
    const bytes = crypto.randomBytes(4096);
    const res = await v3.sendFile(new Ecs.SendFileRequest({
      regionId: R(), instanceId: [c.env.instanceA, c.env.instanceB],
      name: 'b.bin', targetDir: path.join(dir, 'bin'), contentType: 'Base64',
      content: bytes.toString('base64'), fileMode: '0600', overwrite: true,
    }));
    const inv = await waitSend(v3, res.body.invokeId);
    assert.equal(inv.invocationStatus, 'Success', JSON.stringify(inv));
    assert.equal(inv.vmCount, 2);
    const f = path.join(dir, 'bin', 'b.bin');
    assert.ok(fs.readFileSync(f).equals(bytes));
    assert.equal(fs.statSync(f).mode & 0o7777, 0o600);
  });

  it('Overwrite=false on an existing file: Failed, FileAlreadyExists, file unchanged', async () => {
    const res = await v3.sendFile(new Ecs.SendFileRequest({
      regionId: R(), instanceId: [c.env.instanceA], name: 'a.txt',
      targetDir: path.join(dir, 'text'), content: 'other',
    }));
    const inv = await waitSend(v3, res.body.invokeId);
    assert.equal(inv.invocationStatus, 'Failed');
    const one = inv.invokeInstances.invokeInstance[0];
    assert.equal(one.errorCode, 'FileAlreadyExists');
    assert.match(one.errorInfo, /exists and Overwrite is false/);
    assert.equal(fs.readFileSync(path.join(dir, 'text', 'a.txt'), 'utf8'),
      'line one\nligne deux é\n');
  });

  it('DescribeSendFileResults: by Name, by InstanceId, and not in DescribeInvocations', async () => {
    const byName = await v3.describeSendFileResults(new Ecs.DescribeSendFileResultsRequest({
      regionId: R(), name: 'a.txt',
    }));
    assert.equal(byName.body.totalCount, 2);
    const byInst = await v3.describeSendFileResults(new Ecs.DescribeSendFileResultsRequest({
      regionId: R(), instanceId: c.env.instanceB, maxResults: 10,
    }));
    assert.equal(byInst.body.totalCount, 1);
    const invs = await v3.describeInvocations(new Ecs.DescribeInvocationsRequest({
      regionId: R(), pageSize: 50,
    }));
    for (const i of invs.body.invocations.invocation) assert.doesNotMatch(i.invokeId, /^f-/);
  });
});

describe('SendFile refusals with pop-core', () => {
  let pop;
  const base = () => ({
    RegionId: R(), 'InstanceId.1': c.env.instanceA, Name: 'x',
    TargetDir: path.join(c.env.scratch, 'sendfile-sdk', 'bad'), Content: 'x',
  });
  before(() => { pop = c.popClient(); });

  const cases = [
    ['Name ../x', { Name: '../x' }, 'InvalidParameter.Name', 400],
    ['Name with a newline', { Name: 'a\nb' }, 'InvalidParameter.Name', 400],
    ['Name ..', { Name: '..' }, 'InvalidParameter.Name', 400],
    ['relative TargetDir', { TargetDir: 'etc/x' }, 'InvalidParameter.TargetDir', 400],
    ['TargetDir with ..', { TargetDir: '/tmp/../etc' }, 'InvalidParameter.TargetDir', 400],
    ['FileMode 888', { FileMode: '888' }, 'InvalidParameter.FileMode', 400],
    ['FileOwner with a space', { FileOwner: 'a b' }, 'InvalidParameter.FileOwner', 400],
    ['ContentType Hex', { ContentType: 'Hex' }, 'InvalidParameter.ContentType', 400],
    ['bad Base64', { ContentType: 'Base64', Content: 'a' }, 'InvalidParameter.Content', 400],
    ['over 32 KiB', { Content: 'x'.repeat(24577) }, 'InvalidParam.Content.ExceedLimit', 403],
    ['unknown instance', { 'InstanceId.1': 'i-00000000000000000000' }, 'InvalidInstance.NotFound', 404],
  ];
  for (const [name, over, code, status] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      await c.popRejects(pop.request('SendFile', { ...base(), ...over }, { method: 'POST' }),
        code, status);
    });
  }

  it('Name with a NUL is refused by the parameter parser', async () => {
    const e = await c.popError(pop.request('SendFile', { ...base(), Name: 'a\u0000b' },
      { method: 'POST' }));
    assert.equal(e.code, 'InvalidParameter');
  });

  it('a key whose Users policy lacks root may not send as root (403 Forbidden.RAM)', async () => {
    const k = c.createKey('--users', 'nobody');
    const p = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(p.request('SendFile', base(), { method: 'POST' }), 'Forbidden.RAM', 403);
  });

  it('a key whose Instances policy lacks the instance (403 Forbidden.RAM)', async () => {
    const k = c.createKey("--instances", c.env.instanceC);
    const p = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(p.request('SendFile', base(), { method: 'POST' }), 'Forbidden.RAM', 403);
  });

  it('DescribeSendFileResults: a bad InvocationStatus is 400', async () => {
    await c.popRejects(pop.request('DescribeSendFileResults',
      { RegionId: R(), InvocationStatus: 'Finished' }),
    'InvalidParameter.InvocationStatus', 400);
  });

  it('nothing was written by a refused send', () => {
    assert.ok(!fs.existsSync(path.join(c.env.scratch, 'sendfile-sdk', 'bad')));
  });
});
