'use strict';
// Tags (TagResources, UntagResources, ListTagResources) on instances and
// commands, the Tag.N filters of DescribeInstances, DescribeManagedInstances
// and DescribeCommands, their errors, and an access key limited to
// --instances tag:env=prod: it sees and acts only on the tagged instance and
// cannot change the tag its policy depends on (docs/api.md, "Tags").

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const c = require('./common');

const { Ecs } = c;
const R = () => c.env.region;

// Every tag of instance id as "key=value" strings, sorted (admin's view).
async function tagsOf(admin, id, type = 'instance') {
  const res = await admin.request('ListTagResources', {
    RegionId: R(), ResourceType: type, 'ResourceId.1': id,
  });
  return res.TagResources.TagResource.map((t) => {
    assert.equal(t.ResourceId, id);
    assert.equal(t.ResourceType, type);
    return `${t.TagKey}=${t.TagValue}`;
  }).sort();
}

function tagParams(tags) {
  const p = {};
  tags.forEach(([k, v], i) => {
    p[`Tag.${i + 1}.Key`] = k;
    p[`Tag.${i + 1}.Value`] = v;
  });
  return p;
}

describe('tags', () => {
  let admin;
  let v3;
  let A;
  let B;

  before(async () => {
    admin = c.popClient();
    v3 = c.v3Client();
    A = c.env.instanceA;
    B = c.env.instanceB;
    for (const id of [A, B]) {
      await admin.request('UntagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': id, All: true,
      });
    }
  });

  after(async () => {
    for (const id of [A, B]) {
      await admin.request('UntagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': id, All: true,
      });
    }
  });

  it('V3 TagResources, then ListTagResources by id and by tag', async () => {
    await v3.tagResources(new Ecs.TagResourcesRequest({
      regionId: R(), resourceType: 'instance', resourceId: [A],
      tag: [new Ecs.TagResourcesRequestTag({ key: 'env', value: 'prod' }),
        new Ecs.TagResourcesRequestTag({ key: 'team', value: 'ops' })],
    }));
    await admin.request('TagResources', {
      RegionId: R(), ResourceType: 'managedinstance', 'ResourceId.1': B,
      ...tagParams([['env', 'dev']]),
    });
    assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'team=ops']);
    assert.deepEqual(await tagsOf(admin, B, 'managedinstance'), ['env=dev']);
    const res = await v3.listTagResources(new Ecs.ListTagResourcesRequest({
      regionId: R(), resourceType: 'instance',
      tag: [new Ecs.ListTagResourcesRequestTag({ key: 'env', value: 'prod' })],
    }));
    const rows = res.body.tagResources.tagResource;
    assert.ok(rows.length >= 2, JSON.stringify(res.body));
    assert.ok(rows.every((t) => t.resourceId === A), JSON.stringify(rows));
    assert.equal(res.body.nextToken, '');
  });

  it('a value replaces the old one; DescribeInstances filters by tag and shows Tags', async () => {
    await admin.request('TagResources', {
      RegionId: R(), ResourceType: 'instance', 'ResourceId.1': A,
      ...tagParams([['team', 'sre']]),
    });
    assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'team=sre']);
    const res = await admin.request('DescribeInstances', {
      RegionId: R(), 'Tag.1.Key': 'env', 'Tag.1.Value': 'prod',
    });
    const list = res.Instances.Instance;
    assert.deepEqual(list.map((i) => i.InstanceId), [A]);
    assert.deepEqual(list[0].Tags.Tag.map((t) => `${t.TagKey}=${t.TagValue}`).sort(),
      ['env=prod', 'team=sre']);
    // A key alone matches any value.
    const both = await admin.request('DescribeInstances', { RegionId: R(), 'Tag.1.Key': 'env' });
    assert.deepEqual(both.Instances.Instance.map((i) => i.InstanceId).sort(), [A, B].sort());
  });

  it('V3 DescribeManagedInstances filters by tag; Tags is a list', async () => {
    const res = await v3.describeManagedInstances(new Ecs.DescribeManagedInstancesRequest({
      regionId: R(),
      tag: [new Ecs.DescribeManagedInstancesRequestTag({ key: 'env', value: 'dev' })],
    }));
    const list = res.body.instances;
    assert.deepEqual(list.map((i) => i.instanceId), [B]);
    assert.deepEqual(list[0].tags.map((t) => `${t.tagKey}=${t.tagValue}`), ['env=dev']);
  });

  it('commands: tag, filter DescribeCommands, and the tags go with DeleteCommand', async () => {
    const cr = await admin.request('CreateCommand', {
      RegionId: R(), Name: 'tagged-cmd', Type: 'RunShellScript',
      CommandContent: Buffer.from('echo tagged').toString('base64'),
    });
    const id = cr.CommandId;
    await admin.request('TagResources', {
      RegionId: R(), ResourceType: 'command', 'ResourceId.1': id,
      ...tagParams([['purpose', 'tags-test']]),
    });
    const res = await v3.describeCommands(new Ecs.DescribeCommandsRequest({
      regionId: R(),
      tag: [new Ecs.DescribeCommandsRequestTag({ key: 'purpose', value: 'tags-test' })],
    }));
    const cmds = res.body.commands.command;
    assert.deepEqual(cmds.map((x) => x.commandId), [id]);
    assert.equal(res.body.totalCount, 1);
    assert.deepEqual(cmds[0].tags.tag.map((t) => `${t.tagKey}=${t.tagValue}`), ['purpose=tags-test']);
    // Another key cannot tag (or see) this key's command.
    const k = c.createKey();
    const other = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(other.request('TagResources', {
      RegionId: R(), ResourceType: 'command', 'ResourceId.1': id, ...tagParams([['x', 'y']]),
    }), 'InvalidResourceId.NotFound', 404);
    const seen = await other.request('ListTagResources', {
      RegionId: R(), ResourceType: 'command', 'ResourceId.1': id,
    });
    assert.deepEqual(seen.TagResources.TagResource, []);
    await admin.request('DeleteCommand', { RegionId: R(), CommandId: id });
    assert.deepEqual(await tagsOf(admin, id, 'command'), []);
  });

  it('errors: too many tags, bad keys and values, unknown resources and types', async () => {
    const base = { RegionId: R(), ResourceType: 'instance', 'ResourceId.1': A };
    const many = [];
    for (let i = 0; i < 21; i++) many.push([`k${i}`, 'v']);
    await c.popRejects(admin.request('TagResources', { ...base, ...tagParams(many) }),
      'InvalidTagCount', 400);
    // 2 already there + 19 new: over 20 on the resource, and nothing changes.
    await c.popRejects(admin.request('TagResources', { ...base, ...tagParams(many.slice(0, 19)) }),
      'InvalidTagCount', 400);
    assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'team=sre']);
    for (const key of ['aliyun-x', 'acs:x', 'x'.repeat(129), 'see http://x']) {
      await c.popRejects(admin.request('TagResources', { ...base, ...tagParams([[key, 'v']]) }),
        'InvalidTagKey.Malformed', 400);
    }
    await c.popRejects(admin.request('TagResources', { ...base, ...tagParams([['k', 'v'.repeat(129)]]) }),
      'InvalidTagValue.Malformed', 400);
    await c.popRejects(admin.request('TagResources', { ...base, ...tagParams([['k', 'a'], ['k', 'b']]) }),
      'InvalidTagKey.Duplicate', 400);
    await c.popRejects(admin.request('TagResources', {
      ...base, 'ResourceId.2': 'i-doesnotexist0000', ...tagParams([['k', 'v']]),
    }), 'InvalidResourceId.NotFound', 404);
    assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'team=sre']);
    await c.popRejects(admin.request('TagResources', {
      ...base, ResourceType: 'disk', ...tagParams([['k', 'v']]),
    }), 'InvalidResourceType.NotSupported', 400);
    await c.v3Rejects(v3.untagResources(new Ecs.UntagResourcesRequest({
      regionId: R(), resourceType: 'instance', resourceId: [A],
    })), 'MissingParameter.TagKey', 400);
    await c.v3Rejects(v3.tagResources(new Ecs.TagResourcesRequest({
      regionId: R(), resourceType: 'instance', resourceId: [A],
    })), 'MissingParameter.Tag', 400);
  });

  describe('policy: --instances tag:env=prod', () => {
    let pk;
    let limited;
    let limitedV3;

    before(() => {
      pk = c.createKey('--instances', 'tag:env=prod');
      limited = c.popClient({ accessKeyId: pk.AccessKeyId, accessKeySecret: pk.AccessKeySecret });
      limitedV3 = c.v3Client({ accessKeyId: pk.AccessKeyId, accessKeySecret: pk.AccessKeySecret });
    });

    it('latchkeyd accesskey create refuses a malformed tag: entry', () => {
      const { spawnSync } = require('node:child_process');
      for (const bad of ['tag:env', 'tag:=prod', 'tag:aliyun=x']) {
        const r = spawnSync(c.env.latchkeyd, ['--db', c.env.db, 'accesskey', 'create',
          '--instances', bad, '--json'], { encoding: 'utf8', timeout: 20000 });
        assert.notEqual(r.status, 0, bad);
        assert.match(r.stderr, /tag:KEY=VALUE/, r.stderr);
      }
    });

    it('sees only the tagged instance', async () => {
      const res = await limited.request('DescribeInstances', { RegionId: R() });
      assert.deepEqual(res.Instances.Instance.map((i) => i.InstanceId), [A]);
      const m = await limitedV3.describeManagedInstances(
        new Ecs.DescribeManagedInstancesRequest({ regionId: R() }));
      assert.deepEqual(m.body.instances.map((i) => i.instanceId), [A]);
      const l = await limited.request('ListTagResources', { RegionId: R(), ResourceType: 'instance' });
      assert.ok(l.TagResources.TagResource.every((t) => t.ResourceId === A));
    });

    it('RunCommand on A runs; on B: 403 Forbidden.RAM', { timeout: 40000 }, async () => {
      const inv = await limited.request('RunCommand', {
        RegionId: R(), Type: 'RunShellScript', 'InstanceId.1': A, CommandContent: 'echo in-scope',
      });
      const r = await c.waitResult(limited, inv.InvokeId, A);
      assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
      await c.popRejects(limited.request('RunCommand', {
        RegionId: R(), Type: 'RunShellScript', 'InstanceId.1': B, CommandContent: 'echo no',
      }), 'Forbidden.RAM', 403);
      await c.v3Rejects(limitedV3.runCommand(new Ecs.RunCommandRequest({
        regionId: R(), type: 'RunShellScript', instanceId: [B], commandContent: 'echo no',
      })), 'Forbidden.RAM', 403);
    });

    it('cannot tag B into its scope, nor A out of it; nothing changes', async () => {
      await c.popRejects(limited.request('TagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': B, ...tagParams([['env', 'prod']]),
      }), 'Forbidden.RAM', 403);
      await c.v3Rejects(limitedV3.tagResources(new Ecs.TagResourcesRequest({
        regionId: R(), resourceType: 'instance', resourceId: [A],
        tag: [new Ecs.TagResourcesRequestTag({ key: 'env', value: 'dev' })],
      })), 'Forbidden.TagPolicy', 403);
      await c.popRejects(limited.request('UntagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': A, 'TagKey.1': 'env',
      }), 'Forbidden.TagPolicy', 403);
      await c.popRejects(limited.request('UntagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': A, All: true,
      }), 'Forbidden.TagPolicy', 403);
      assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'team=sre']);
      assert.deepEqual(await tagsOf(admin, B), ['env=dev']);
      // Another restricted key cannot move B into this key's scope either.
      const kb = c.createKey('--instances', B);
      const onlyB = c.popClient({ accessKeyId: kb.AccessKeyId, accessKeySecret: kb.AccessKeySecret });
      await c.popRejects(onlyB.request('TagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': B, ...tagParams([['env', 'prod']]),
      }), 'Forbidden.TagPolicy', 403);
      assert.deepEqual(await tagsOf(admin, B), ['env=dev']);
      // A tag no policy names is the restricted key's to set on A.
      await limited.request('TagResources', {
        RegionId: R(), ResourceType: 'instance', 'ResourceId.1': A, ...tagParams([['note', 'x']]),
      });
      assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'note=x', 'team=sre']);
    });
  });

  it('UntagResources by key and All', async () => {
    await v3.untagResources(new Ecs.UntagResourcesRequest({
      regionId: R(), resourceType: 'instance', resourceId: [A], tagKey: ['team', 'absent'],
    }));
    assert.deepEqual(await tagsOf(admin, A), ['env=prod', 'note=x']);
    await admin.request('UntagResources', {
      RegionId: R(), ResourceType: 'instance', 'ResourceId.1': B, All: true,
    });
    assert.deepEqual(await tagsOf(admin, B), []);
  });
});
