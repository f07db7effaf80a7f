'use strict';
// Command parameters are data: a hostile value reaches the script as the
// literal text it was, whatever shell metacharacters it holds. Each case
// runs `printf '%s' {{v}} > OUT` (RunCommand, EnableParameter=true) and
// compares OUT's bytes with the value; a canary file that the value would
// create if it were run as shell must not exist.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const c = require('./common');

const { Ecs } = c;

// name -> function(canaryPath) returning the value.
const CASES = {
  'single quotes': (k) => `it's '; touch ${k}; echo '`,
  'double quotes': (k) => `say "hi"; touch "${k}" "`,
  'command substitution $()': (k) => `$(touch ${k})`,
  'backticks': (k) => `\`touch ${k}\``,
  'semicolon': (k) => `x; touch ${k}`,
  'newline': (k) => `line one\ntouch ${k}\nline three`,
  'pipe': (k) => `x | touch ${k}`,
  'ampersand (background, &&)': (k) => `x & touch ${k} && touch ${k}`,
  'redirections > >> <': (k) => `x > ${k} >> ${k} < /etc/passwd`,
  'globs * ? [..]': () => '* /* /etc/pass?? [a-z]*',
  '$HOME and ${var}': () => '$HOME ${PATH} $0 $$ $1',
  'backslashes': (k) => `a\\b\\\\c\\ntouch\\ ${k}\\`,
  'placeholder syntax {{v}}': () => '{{v}} {{ v }} {{other}}',
  'leading dash': () => '-n -e --version',
  'whitespace runs and tabs': () => '  two  spaces\tand a tab  ',
  'empty value': () => '',
  'unicode and control bytes': () => 'héllo ✓ \u0001\u001b[31m red',
  'everything at once': (k) => `'"$(touch ${k})\`touch ${k}\`;|&><*?\n\\$HOME {{v}}`,
};

describe('hostile parameter values reach the script as literal text', () => {
  let pop;
  const cases = [];

  before(async () => {
    pop = c.popClient();
    const dir = path.join(c.env.work, 'hostile');
    fs.mkdirSync(dir, { recursive: true });
    // One RunCommand per case, all sent before any is awaited.
    let i = 0;
    for (const [name, make] of Object.entries(CASES)) {
      i++;
      const out = path.join(dir, `out-${i}`);
      const canary = path.join(dir, `canary-${i}`);
      const value = make(canary);
      const p = pop.request('RunCommand', {
        RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
        Name: `sdk-hostile-${i}`, EnableParameter: true,
        CommandContent: `printf '%s' {{v}} > ${out}`,
        Parameters: JSON.stringify({ v: value }),
      }, { method: 'POST' }).then((r) => r, (e) => e);
      cases.push({ name, out, canary, value, p });
    }
  });

  for (const name of Object.keys(CASES)) {
    it(name, { timeout: 40000 }, async () => {
      const k = cases.find((x) => x.name === name);
      const inv = await k.p;
      assert.ok(!(inv instanceof Error), `RunCommand: ${inv && inv.message}`);
      const r = await c.waitResult(pop, inv.InvokeId, c.env.instanceA, 30000);
      assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
      assert.ok(fs.existsSync(k.out), 'the script ran and wrote its file');
      assert.deepEqual(fs.readFileSync(k.out), Buffer.from(k.value, 'utf8'),
        `bytes of ${JSON.stringify(k.value)}`);
      assert.equal(fs.existsSync(k.canary), false, 'the canary was not created');
    });
  }

  it('V3: CreateCommand with {{v}}, then InvokeCommand with a hostile map value', { timeout: 40000 },
    async () => {
      const v3 = c.v3Client();
      const dir = path.join(c.env.work, 'hostile');
      const out = path.join(dir, 'out-v3');
      const canary = path.join(dir, 'canary-v3');
      const value = CASES['everything at once'](canary);
      const cr = await v3.createCommand(new Ecs.CreateCommandRequest({
        regionId: c.env.region, name: 'sdk-hostile-v3', type: 'RunShellScript',
        commandContent: Buffer.from(`printf '%s' {{v}} > ${out}`).toString('base64'),
        enableParameter: true, timeout: 30,
      }));
      assert.match(cr.body.commandId, /\S/);
      const inv = await v3.invokeCommand(new Ecs.InvokeCommandRequest({
        regionId: c.env.region, commandId: cr.body.commandId,
        instanceId: [c.env.instanceA], parameters: { v: value },
      }));
      const r = await c.waitResult(pop, inv.body.invokeId, c.env.instanceA);
      assert.equal(r.InvocationStatus, 'Success', JSON.stringify(r));
      assert.deepEqual(fs.readFileSync(out), Buffer.from(value, 'utf8'));
      assert.equal(fs.existsSync(canary), false, 'the canary was not created');
      await v3.deleteCommand(new Ecs.DeleteCommandRequest({
        regionId: c.env.region, commandId: cr.body.commandId,
      }));
    });

  it('a parameter name the command does not have is refused and runs nothing', async () => {
    const dir = path.join(c.env.work, 'hostile');
    const out = path.join(dir, 'out-unknown-name');
    const e = await c.popError(pop.request('RunCommand', {
      RegionId: c.env.region, Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
      EnableParameter: true, CommandContent: `printf '%s' {{v}} > ${out}`,
      Parameters: JSON.stringify({ v: 'x', w: '$(id)' }),
    }));
    assert.ok(e.entry.response.statusCode >= 400 && e.entry.response.statusCode < 500,
      `${e.code} ${e.entry.response.statusCode}`);
    await c.sleep(1000);
    assert.equal(fs.existsSync(out), false);
  });
});
