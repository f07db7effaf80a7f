'use strict';
// Host keys known before the first connection (issue 14) through the
// official SDKs' generic requests, as docs/api.md promises for latchkey's
// extensions: DescribeInstanceHostKeys answers the keys of the scratch
// sshd that instance A's agent reports (with ssh-keygen's fingerprints),
// is limited by the access key's Instances policy (403) and checks its
// InstanceId (400, 404); DescribeHostCertificateAuthority answers the CA
// key `latchkeyd hostca show` prints (test_sdk.sh starts latchkeyd with
// --host-ca) to any valid key, and nothing to a bad signature.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { $OpenApiUtil } = require('@alicloud/openapi-core');
const c = require('./common');

const R = () => c.env.region;

// A latchkey extension through the V3 client's generic callApi.
function v3Call(client, action, query) {
  const params = new $OpenApiUtil.Params({
    action, version: c.API_VERSION, protocol: 'HTTP', pathname: '/',
    method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData',
    bodyType: 'json',
  });
  return client.callApi(params, new $OpenApiUtil.OpenApiRequest({ query }),
    c.runtime());
}

// The scratch sshd's public host keys, "type base64", sorted.
function sshdKeys() {
  const dir = path.join(c.env.root, 'etc', 'ssh');
  return fs.readdirSync(dir).filter((f) => /^ssh_host_.*_key\.pub$/.test(f))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split(/\s+/)
      .slice(0, 2).join(' '))
    .sort();
}

function fingerprint(line) {
  const f = path.join(c.env.work, `hk-${process.pid}.pub`);
  fs.writeFileSync(f, `${line}\n`);
  try {
    return execFileSync('ssh-keygen', ['-lf', f], { encoding: 'utf8' }).split(' ')[1];
  } finally {
    fs.rmSync(f, { force: true });
  }
}

describe('DescribeInstanceHostKeys', () => {
  let pop;
  let v3;
  before(() => {
    fs.mkdirSync(c.env.work, { recursive: true });
    pop = c.popClient();
    v3 = c.v3Client();
  });

  it('pop-core: the keys A\'s sshd uses, with ssh-keygen\'s fingerprints', async () => {
    const want = sshdKeys();
    assert.ok(want.length >= 1, 'the scratch sshd has host keys');
    const r = await pop.request('DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: c.env.instanceA,
    });
    assert.equal(r.InstanceId, c.env.instanceA);
    const keys = r.HostKeys.HostKey;
    assert.deepEqual(keys.map((k) => k.PublicKey).sort(), want);
    for (const k of keys) {
      assert.equal(k.Fingerprint, fingerprint(k.PublicKey), k.PublicKey);
      assert.equal(k.KeyType, k.PublicKey.split(' ')[0]);
    }
  });

  it('V3 callApi answers the same keys', async () => {
    const r = await v3Call(v3, 'DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: c.env.instanceA,
    });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.body.HostKeys.HostKey.map((k) => k.PublicKey).sort(), sshdKeys());
  });

  it('a key limited to instance B: 403 Forbidden.RAM for A (both clients), B allowed', async () => {
    const k = c.createKey('--instances', c.env.instanceB);
    const opts = { accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret };
    await c.popRejects(c.popClient(opts).request('DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: c.env.instanceA,
    }), 'Forbidden.RAM', 403);
    await c.v3Rejects(v3Call(c.v3Client(opts), 'DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: c.env.instanceA,
    }), 'Forbidden.RAM', 403);
    const b = await c.popClient(opts).request('DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: c.env.instanceB,
    });
    assert.equal(b.InstanceId, c.env.instanceB);
  });

  it('an unknown instance: 404; none: 400', async () => {
    await c.popRejects(pop.request('DescribeInstanceHostKeys', {
      RegionId: R(), InstanceId: 'i-99999999999999999999',
    }), 'InvalidInstance.NotFound', 404);
    await c.popRejects(pop.request('DescribeInstanceHostKeys', { RegionId: R() }),
      'MissingInstanceId', 400);
  });
});

describe('DescribeHostCertificateAuthority', () => {
  it('pop-core and V3: the key latchkeyd hostca show prints', async () => {
    const show = c.admin('hostca', 'show').trim();
    assert.match(show, /^ssh-ed25519 AAAA\S+/);
    const r = await c.popClient().request('DescribeHostCertificateAuthority', { RegionId: R() });
    assert.equal(r.KeyType, 'ssh-ed25519');
    assert.equal(r.PublicKey.split(' ').slice(0, 2).join(' '),
      show.split(' ').slice(0, 2).join(' '));
    const v = await v3Call(c.v3Client(), 'DescribeHostCertificateAuthority', { RegionId: R() });
    assert.equal(v.body.PublicKey, r.PublicKey);
  });

  it('any valid key may read it (one limited to B); a wrong secret may not', async () => {
    const k = c.createKey('--instances', c.env.instanceB);
    const r = await c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret })
      .request('DescribeHostCertificateAuthority', { RegionId: R() });
    assert.match(r.PublicKey, /^ssh-ed25519 /);
    await c.popRejects(c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: 'x'.repeat(30) })
      .request('DescribeHostCertificateAuthority', { RegionId: R() }),
    'SignatureDoesNotMatch', 400);
  });
});
