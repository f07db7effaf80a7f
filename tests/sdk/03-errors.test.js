'use strict';
// Authentication and request errors as the SDKs expose them: pop-core
// throws err.code = Code, err.data = body (HTTP status in
// err.entry.response.statusCode); the V3 client throws ClientError with
// statusCode, code and data.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const c = require('./common');

const { Ecs } = c;
const R = () => c.env.region;

describe('the test\'s own signers', () => {
  it('reproduce the reference\'s known answers (1.0 GET, 1.0 POST, V3)', () => {
    const ak = { accessKeyId: 'testid', accessKeySecret: 'testsecret' };
    assert.equal(c.signV1('GET', {
      Action: 'DescribeRegions', Format: 'XML', Timestamp: '2016-02-23T12:46:24Z',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
    }, ak).params.Signature, 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    assert.equal(c.signV1('POST', {
      Action: 'InvokeCommand', CommandId: 'cmd-ACS-ECS-SendSshPublicKey-linux.sh',
      'InstanceId.1': 'i-abc', RegionId: 'cn-hangzhou', SignatureNonce: 'nonce-1',
      Parameters: '{"username":"root","sshPublicKey":"ssh-ed25519 AAAA+/= me@host"}',
      Timestamp: '2024-01-01T00:00:00Z',
    }, ak).params.Signature, 'hsVwylV0L+Bljdt5KWwUBmEPZ9A=');
    assert.equal(c.signV3('DescribeCommands', {
      Name: 'ACS-ECS-SendSshPublicKey-linux.sh', Provider: 'AlibabaCloud', RegionId: 'cn-hangzhou',
    }, Object.assign({
      host: '127.0.0.1:8080',
      headers: { 'x-acs-date': '2024-01-01T00:00:00Z',
        'x-acs-signature-nonce': '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf' },
    }, ak)).signature, '54d5915e0fb243c9638d584c640a7f36c1ce2bb66993d02fdeef9af122a5863b');
  });
});

describe('signatures', () => {
  let pop;
  let v3;
  before(() => { pop = c.popClient(); v3 = c.v3Client(); });

  it('wrong secret: SignatureDoesNotMatch 400 (pop-core GET and POST)', async () => {
    const bad = c.popClient({ accessKeySecret: 'not-the-secret' });
    const e = await c.popRejects(bad.request('DescribeCommands', { RegionId: R() }),
      'SignatureDoesNotMatch', 400);
    assert.match(e.data.Message, /server string to sign is:GET&%2F&/);
    await c.popRejects(bad.request('DescribeCommands', { RegionId: R() }, { method: 'POST' }),
      'SignatureDoesNotMatch', 400);
  });

  it('wrong secret: SignatureDoesNotMatch 400 (V3 ClientError)', async () => {
    const bad = c.v3Client({ accessKeySecret: 'not-the-secret' });
    await c.v3Rejects(bad.describeCommands(new Ecs.DescribeCommandsRequest({ regionId: R() })),
      'SignatureDoesNotMatch', 400);
  });

  it('a hand-signed 1.0 request is accepted as sent (GET and POST)', async () => {
    for (const m of ['GET', 'POST']) {
      const { params } = c.signV1(m, { Action: 'DescribeCommands', RegionId: R(), Name: 'x' });
      const res = await c.sendV1(m, params);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.json.Code, undefined);
    }
  });

  it('1.0: a parameter altered after signing: SignatureDoesNotMatch 400', async () => {
    const { params } = c.signV1('GET', {
      Action: 'InvokeCommand', RegionId: R(), CommandId: `cmd-${c.SEND_KEY_NAME}`,
      'InstanceId.1': 'i-00000000000000000001',
      Parameters: JSON.stringify({ username: 'lk-bob', sshPublicKey: 'ssh-ed25519 AAAA' }),
    });
    params.Parameters = JSON.stringify({ username: 'root', sshPublicKey: 'ssh-ed25519 AAAA' });
    const res = await c.sendV1('GET', params);
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.Code, 'SignatureDoesNotMatch');
    // The server's string to sign shows what it verified: the altered value.
    assert.ok(res.json.Message.includes(c.pctEncode(c.pctEncode('"root"'))), res.json.Message);
  });

  it('1.0: an added parameter, a removed one, another method: SignatureDoesNotMatch', async () => {
    let s = c.signV1('GET', { Action: 'DescribeCommands', RegionId: R() });
    let res = await c.sendV1('GET', Object.assign({ Name: 'extra' }, s.params));
    assert.equal(res.json && res.json.Code, 'SignatureDoesNotMatch', res.body);
    s = c.signV1('GET', { Action: 'DescribeCommands', RegionId: R(), Name: 'x' });
    delete s.params.Name;
    res = await c.sendV1('GET', s.params);
    assert.equal(res.json && res.json.Code, 'SignatureDoesNotMatch', res.body);
    s = c.signV1('GET', { Action: 'DescribeCommands', RegionId: R() });
    res = await c.sendV1('POST', s.params);
    assert.equal(res.status, 400);
    assert.equal(res.json && res.json.Code, 'SignatureDoesNotMatch', res.body);
  });

  it('V3: a hand-signed request is accepted; the same with one query value altered is not', async () => {
    const ok = c.signV3('DescribeCommands', { RegionId: R(), Name: 'x' });
    let res = await c.sendV3(ok);
    assert.equal(res.status, 200, res.body);
    const s = c.signV3('DescribeCommands', { RegionId: R(), Name: 'x' });
    s.path = s.path.replace('Name=x', 'Name=y');
    res = await c.sendV3(s);
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.Code, 'SignatureDoesNotMatch');
    // Another action under the same signature.
    const t = c.signV3('DescribeCommands', { RegionId: R() });
    t.headers['x-acs-action'] = 'DeleteCommand';
    res = await c.sendV3(t);
    assert.equal(res.json && res.json.Code, 'SignatureDoesNotMatch', res.body);
  });

  it('pop-core: a reused SignatureNonce: SignatureNonceUsed 400', async () => {
    const nonce = crypto.randomUUID();
    await pop.request('DescribeCommands', { RegionId: R(), SignatureNonce: nonce });
    await c.popRejects(pop.request('DescribeCommands', { RegionId: R(), SignatureNonce: nonce }),
      'SignatureNonceUsed', 400);
    // Also across methods and actions.
    await c.popRejects(pop.request('DescribeInvocations', { RegionId: R(), SignatureNonce: nonce },
      { method: 'POST' }), 'SignatureNonceUsed', 400);
  });

  it('a request with a bad signature does not use up its nonce', async () => {
    const nonce = crypto.randomUUID();
    const bad = c.popClient({ accessKeySecret: 'not-the-secret' });
    await c.popRejects(bad.request('DescribeCommands', { RegionId: R(), SignatureNonce: nonce }),
      'SignatureDoesNotMatch', 400);
    const res = await pop.request('DescribeCommands', { RegionId: R(), SignatureNonce: nonce });
    assert.equal(typeof res.RequestId, 'string');
  });

  it('V3: a reused x-acs-signature-nonce (RuntimeOptions headers): SignatureNonceUsed 400', async () => {
    const nonce = crypto.randomUUID();
    const req = () => new Ecs.DescribeCommandsRequest({ regionId: R() });
    const first = await v3.describeCommandsWithOptions(req(),
      c.runtime({ 'x-acs-signature-nonce': nonce }));
    assert.equal(first.statusCode, 200);
    await c.v3Rejects(v3.describeCommandsWithOptions(req(),
      c.runtime({ 'x-acs-signature-nonce': nonce })), 'SignatureNonceUsed', 400);
  });

  it('pop-core: Timestamp 20 minutes old or ahead: InvalidTimeStamp.Expired 400', async () => {
    for (const off of [-20 * 60, 20 * 60]) {
      await c.popRejects(pop.request('DescribeCommands', {
        RegionId: R(), Timestamp: c.isoNow(off),
      }), 'InvalidTimeStamp.Expired', 400);
    }
    // 10 minutes old is inside the 15-minute window.
    const res = await pop.request('DescribeCommands', { RegionId: R(), Timestamp: c.isoNow(-600) });
    assert.equal(typeof res.RequestId, 'string');
  });

  it('pop-core: an unparsable Timestamp: IllegalTimestamp 400', async () => {
    await c.popRejects(pop.request('DescribeCommands', { RegionId: R(), Timestamp: 'yesterday' }),
      'IllegalTimestamp', 400);
  });

  it('V3: x-acs-date 20 minutes old: InvalidTimeStamp.Expired 400', async () => {
    await c.v3Rejects(v3.describeCommandsWithOptions(
      new Ecs.DescribeCommandsRequest({ regionId: R() }),
      c.runtime({ 'x-acs-date': c.isoNow(-20 * 60) })), 'InvalidTimeStamp.Expired', 400);
  });

  it('unknown AccessKeyId: InvalidAccessKeyId.NotFound 404 (pop-core and V3)', async () => {
    const ghost = { accessKeyId: 'LTAI-no-such-key-0000', accessKeySecret: 'whatever' };
    await c.popRejects(c.popClient(ghost).request('DescribeCommands', { RegionId: R() }),
      'InvalidAccessKeyId.NotFound', 404);
    await c.v3Rejects(c.v3Client(ghost).describeCommands(
      new Ecs.DescribeCommandsRequest({ regionId: R() })), 'InvalidAccessKeyId.NotFound', 404);
  });

  it('a disabled key: refused with InvalidAccessKeyId.Inactive (it worked before)', async () => {
    const k = c.createKey();
    const mine = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await mine.request('DescribeCommands', { RegionId: R() });
    c.admin('accesskey', 'disable', k.AccessKeyId);
    await c.popRejects(mine.request('DescribeCommands', { RegionId: R() }),
      'InvalidAccessKeyId.Inactive', 400);
    const mineV3 = c.v3Client({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.v3Rejects(mineV3.describeCommands(new Ecs.DescribeCommandsRequest({ regionId: R() })),
      'InvalidAccessKeyId.Inactive', 400);
  });

  it('no signature at all / a malformed one: IncompleteSignature or MissingAccessKeyId', async () => {
    let res = await c.rawHttp('GET', `/?Action=DescribeCommands&Version=2014-05-26&RegionId=${R()}`);
    assert.equal(res.status, 400, res.body);
    assert.match(res.json.Code, /^(MissingAccessKeyId|IncompleteSignature)$/);
    const s = c.signV1('GET', { Action: 'DescribeCommands', RegionId: R() });
    s.params.SignatureMethod = 'HMAC-MD5';
    res = await c.sendV1('GET', s.params);
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.Code, 'IncompleteSignature');
  });
});

describe('request errors', () => {
  let pop;
  let v3;
  before(() => { pop = c.popClient(); v3 = c.v3Client(); });

  it('no RegionId: MissingRegionId 400 (pop-core and V3)', async () => {
    await c.popRejects(pop.request('DescribeCommands', {}), 'MissingRegionId', 400);
    await c.v3Rejects(v3.describeCommands(new Ecs.DescribeCommandsRequest({})),
      'MissingRegionId', 400);
  });

  it('another RegionId: InvalidRegionId.NotFound 404', async () => {
    await c.popRejects(pop.request('DescribeCommands', { RegionId: 'us-west-1' }),
      'InvalidRegionId.NotFound', 404);
  });

  it('bad PageSize (0, 51, "ten") on DescribeCommands: refused with a 4xx', async () => {
    for (const v of ['0', '51', 'ten']) {
      const e = await c.popError(pop.request('DescribeCommands', { RegionId: R(), PageSize: v }));
      const st = e.entry.response.statusCode;
      assert.ok(st === 400 || st === 403, `PageSize=${v}: status ${st}`);
      assert.match(e.code, /^(InvalidParam\.PageSize|InvalidParameter(\.PageSize)?)$/);
    }
  });

  it('bad PageSize on DescribeCommands: the documented InvalidParam.PageSize (403)', async () => {
    await c.popRejects(pop.request('DescribeCommands', { RegionId: R(), PageSize: '51' }),
      'InvalidParam.PageSize', 403);
  });

  it('InvokeCommand without CommandId: MissingCommandId 400', async () => {
    await c.popRejects(pop.request('InvokeCommand', {
      RegionId: R(), 'InstanceId.1': c.env.instanceA,
    }), 'MissingCommandId', 400);
  });

  it('InvokeCommand on an unknown command: InvalidCmdId.NotFound 404 (pop-core and V3)', async () => {
    await c.popRejects(pop.request('InvokeCommand', {
      RegionId: R(), CommandId: 'c-doesnotexist0000000', 'InstanceId.1': c.env.instanceA,
    }), 'InvalidCmdId.NotFound', 404);
    await c.v3Rejects(v3.invokeCommand(new Ecs.InvokeCommandRequest({
      regionId: R(), commandId: 'c-doesnotexist0000000', instanceId: [c.env.instanceA],
    })), 'InvalidCmdId.NotFound', 404);
  });

  it('DeleteCommand on an unknown command: InvalidCmdId.NotFound 404', async () => {
    await c.popRejects(pop.request('DeleteCommand', {
      RegionId: R(), CommandId: 'c-doesnotexist0000000',
    }), 'InvalidCmdId.NotFound', 404);
  });

  it('InvokeCommand on an unknown instance: InvalidInstance.NotFound 404', async () => {
    await c.popRejects(pop.request('InvokeCommand', {
      RegionId: R(), CommandId: `cmd-${c.SEND_KEY_NAME}`, 'InstanceId.1': 'i-00000000000000000000',
      Parameters: JSON.stringify({ username: 'lk-alice', sshPublicKey: 'ssh-ed25519 AAAA' }),
    }), 'InvalidInstance.NotFound', 404);
    await c.v3Rejects(v3.runCommand(new Ecs.RunCommandRequest({
      regionId: R(), type: 'RunShellScript', commandContent: 'true',
      instanceId: ['i-00000000000000000000'],
    })), 'InvalidInstance.NotFound', 404);
  });

  it('StopInvocation of an unknown invocation: InvalidInvokeId.NotFound 404', async () => {
    await c.popRejects(pop.request('StopInvocation', {
      RegionId: R(), InvokeId: 't-doesnotexist0000000',
    }), 'InvalidInvokeId.NotFound', 404);
    await c.v3Rejects(v3.stopInvocation(new Ecs.StopInvocationRequest({
      regionId: R(), invokeId: 't-doesnotexist0000000',
    })), 'InvalidInvokeId.NotFound', 404);
  });

  it('an unknown Action: InvalidAction.NotFound 404 (pop-core and V3 callApi)', async () => {
    await c.popRejects(pop.request('DescribeNoSuchThing', { RegionId: R() }),
      'InvalidAction.NotFound', 404);
    const { $OpenApiUtil } = require('@alicloud/openapi-core');
    const params = new $OpenApiUtil.Params({
      action: 'DescribeNoSuchThing', version: '2014-05-26', protocol: 'HTTP', pathname: '/',
      method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
    });
    await c.v3Rejects(v3.callApi(params, new $OpenApiUtil.OpenApiRequest({
      query: { RegionId: R() },
    }), c.runtime()), 'InvalidAction.NotFound', 404);
  });

  it('another API Version: InvalidParameter 400', async () => {
    const other = new (require('@alicloud/pop-core'))({
      accessKeyId: c.env.akId, accessKeySecret: c.env.akSecret,
      endpoint: c.env.endpoint, apiVersion: '2016-03-14',
    });
    await c.popRejects(other.request('DescribeCommands', { RegionId: R() }),
      'InvalidParameter', 400);
  });
});


// Recommend: each error body links to the code's entry on latchkeyd's own
// error page (server/console/errors.html, served with the console's
// assets). This latchkeyd runs without --public-url, so the link is a
// path on it; with --public-url it is absolute (test_agent.sh).
describe('Recommend: the error page', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const PAGE = '/console/static/errors.html';
  let page;
  before(async () => {
    page = await c.rawHttp('GET', PAGE);
  });

  it('the page is served: 200 text/html, with the console\'s CSP and no inline script', () => {
    assert.equal(page.status, 200, page.body.slice(0, 200));
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.headers['content-security-policy'] || '', /default-src 'self'/);
    assert.doesNotMatch(page.body, /<script|\bon[a-z]+=|style=/i);
  });

  async function recommendOf(code, promise) {
    const e = await c.popError(promise);
    assert.equal(e.code, code, JSON.stringify(e.data));
    assert.equal(e.data.Recommend, `${PAGE}#${code}`, JSON.stringify(e.data));
    const res = await c.rawHttp('GET', e.data.Recommend.split('#')[0]);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.ok(res.body.includes(`id="${code}"`), `no anchor for ${code}`);
  }

  it('API errors: Recommend is PAGE#Code, and the page has the anchor', async () => {
    const pop = c.popClient();
    await recommendOf('InvalidCmdId.NotFound', pop.request('DeleteCommand', {
      RegionId: R(), CommandId: 'c-doesnotexist0000000',
    }));
    await recommendOf('InvalidRegionId.NotFound',
      pop.request('DescribeCommands', { RegionId: 'us-west-1' }));
    await recommendOf('SignatureDoesNotMatch', c.popClient({ accessKeySecret: 'wrong' })
      .request('DescribeCommands', { RegionId: R() }));
  });

  it('a session dial\'s error (relay) carries it too', async () => {
    const res = await c.rawHttp('GET', '/session?sessionId=s-nosuchsession0000000&token=x');
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
    assert.ok(res.json && res.json.Code, res.body);
    assert.equal(res.json.Recommend, `${PAGE}#${res.json.Code}`, res.body);
    assert.ok(page.body.includes(`id="${res.json.Code}"`), `no anchor for ${res.json.Code}`);
  });

  it('every code latchkeyd\'s sources give api_error/relay_err/console_error has an entry', () => {
    const dir = path.join(__dirname, '..', '..', 'server');
    const missing = [];
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.c'))) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      const re = /\b(?:api_error|relay_err|console_error)\s*\(([^;]*?)\)\s*;/gs;
      for (const m of src.matchAll(re)) {
        const lit = /,\s*\d+\s*,\s*((?:"[^"]*"\s*)+)/.exec(m[1]);
        if (!lit) continue;
        const code = [...lit[1].matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
        if (!page.body.includes(`id="${code}"`)) missing.push(`${code} (${f})`);
      }
      for (const m of src.matchAll(/api_param_req\(req, "([A-Za-z]+)"/g))
        if (!page.body.includes(`id="Missing${m[1]}"`)) missing.push(`Missing${m[1]} (${f})`);
    }
    assert.deepEqual(missing, []);
  });
});
