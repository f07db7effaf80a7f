'use strict';
// The latchkey web console in Debian's chromium (headless), driven by
// playwright-core. Run by tests/integration/test_console.sh, which starts
// latchkeyd, an agent and sshd, and sets the environment (README.md):
//
//   node console.test.js send   sign-in, Instances, plug-in install and
//                               SendSshPublicKey through Create Task
//   node console.test.js rest   hostile values, CSRF, Stop, sign-out,
//                               operator, Settings
//   node console.test.js audit  the Audit page: events, filters, policy
//   node console.test.js ops    the operator's pages: rename and remove an
//                               instance, tags, activations, Send File, access
//                               keys, everyone's invocations and sessions
//
// Prints one TAP line per case, numbered from LK_TAP_START, and writes
// "LAST_NUMBER FAILURES" to LK_TAP_COUNTS. A browser that cannot start is
// a failure.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set (see tests/browser/README.md)`);
  return process.env[k];
};
const URL_ = env('LK_URL');
const INSTANCE = env('LK_INSTANCE');
const SHOTS = env('LK_SHOTS');
const SEND_KEY = 'ACS-ECS-SendSshPublicKey-linux.sh';
const INSTALL = 'ACS-ECS-InstallPlugin-linux.sh';
const PLUGIN_CMD = 'acs-plugin-manager -e -P config_ecs_instance_connect --params --install';
const HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_DESC = '<script>window.__pwned=2</script> &amp; "\'';
const FINISHED = ['Success', 'Failed', 'Stopped', 'Timeout', 'Error', 'Cancelled'];
const HOSTILE_OUT = '<b>bold</b><img src=x onerror=window.__pwned=3>';

let n = Number(process.env.LK_TAP_START || 0);
let failed = 0;
let shot = 0;
const problems = []; // script errors and CSP reports seen in pages

function report() {
  if (process.env.LK_TAP_COUNTS) fs.writeFileSync(process.env.LK_TAP_COUNTS, `${n} ${failed}\n`);
}

async function t(name, fn) {
  n++;
  try {
    await fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}`);
    const text = String((e && e.stack) || e).split('\n').slice(0, 8);
    for (const l of text) console.log(`# ${l}`);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function screenshot(page, name) {
  shot++;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${process.argv[2]}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// A raw request that no browser rule touches: method, path under
// /console/, headers, body. Resolves {status, body}.
function raw(method, p, headers, body) {
  const u = new URL(p, URL_);
  return new Promise((resolve, reject) => {
    const req = http.request(u, { method, headers }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(data); } catch (e) { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: json, text: data });
      });
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function launch(sub) {
  const dir = path.join(env('LK_PROFILE'), sub);
  fs.mkdirSync(dir, { recursive: true });
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: env('LK_CHROMIUM'),
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 60000,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[0-9]|status of 415|status of 429/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { ctx, page };
}

async function signinKey(page, secret) {
  await page.goto(URL_);
  await page.locator('#signin-form').waitFor();
  await page.check('input[name=kind][value=accesskey]');
  await page.fill('#ak-id', env('LK_AK_ID'));
  await page.fill('#ak-secret', secret);
  await page.click('#signin-submit');
}

async function waitTitle(page, text) {
  await page.locator('#view-title', { hasText: text }).waitFor();
}

// Opens Create Task for the command called name on the current list.
async function openTask(page, name) {
  await page.getByRole('button', { name: `Create Task: ${name}`, exact: true }).click();
  await page.locator('#panel').waitFor();
  await page.locator('#task-instances input[type=checkbox]').first().waitFor();
}

async function pickInstance(page) {
  await page.fill('#task-instance-search', INSTANCE);
  await page.locator(`#task-instances input[value="${INSTANCE}"]`).check();
}

// Waits on the invocation page until its status is one of want.
async function waitStatus(page, want, ms) {
  await page.waitForURL(/#\/invocation\/t-[0-9a-f]+$/);
  await page.waitForFunction((w) => {
    const s = document.querySelector('#invocation-status');
    return s && w.includes(s.textContent.trim());
  }, want, { timeout: ms || 90000 });
  if (want.every((w) => FINISHED.includes(w))) {
    // Every server's result is in too (it is read in a second call).
    await page.waitForFunction(() => {
      const codes = [...document.querySelectorAll('#results .exit-code')];
      return codes.length > 0 && codes.every((e) => e.textContent !== '—');
    }, null, { timeout: 30000 });
  }
  return decodeURIComponent(page.url().split('/').pop());
}

async function pwned(page) {
  return page.evaluate(() => window.__pwned);
}

// ---------------------------------------------------------------------

async function phaseSend() {
  let b;
  await t('chromium starts headless (Debian /usr/bin/chromium)', async () => { b = await launch('send'); });
  if (!b) return;
  const { ctx, page } = b;

  await t('the console loads offline from latchkeyd and shows the sign-in form', async () => {
    await page.goto(URL_);
    await page.locator('#signin-form').waitFor();
    assert(await page.getByLabel('AccessKey ID').isVisible(), 'no labelled AccessKey ID field');
    await screenshot(page, 'signin');
  });

  await t('a wrong secret shows an error next to the secret field', async () => {
    await signinKey(page, 'wrong-secret');
    const err = page.locator('#ak-secret-error');
    await err.filter({ hasText: 'not correct' }).waitFor();
    assert(await page.getAttribute('#ak-secret', 'aria-invalid') === 'true', 'the field is not marked invalid');
    assert(await page.locator('#app').isHidden(), 'the app is shown');
    await screenshot(page, 'signin-error');
  });

  await t('an empty field is flagged before anything is sent', async () => {
    await page.fill('#ak-secret', '');
    await page.click('#signin-submit');
    await page.locator('#ak-secret-error', { hasText: 'Required' }).waitFor();
  });

  await t('sign in with the access key', async () => {
    await signinKey(page, env('LK_AK_SECRET'));
    await waitTitle(page, 'Instances');
    const who = await page.textContent('#who');
    assert(who.includes(env('LK_AK_ID')), `who: ${who}`);
  });

  await t('the session cookie is HttpOnly, SameSite=Strict, Path=/console', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    assert(c, 'no lk_console cookie');
    assert(c.httpOnly && c.sameSite === 'Strict' && c.path === '/console', JSON.stringify(c));
    assert(/^[0-9a-f]{64}$/.test(c.value), 'the id is not 256 bits of hex');
    assert(await page.evaluate(() => document.cookie) === '', 'the page can read the cookie');
  });

  await t('Instances lists the agent online, with its version, address and heartbeat', async () => {
    const row = page.locator('tbody tr', { hasText: INSTANCE });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[4] === 'online', `state: ${cells[4]}`);
    assert(/\d/.test(cells[3]), `version: ${cells[3]}`);
    assert(/\d+\.\d+\.\d+\.\d+/.test(cells[2]), `addresses: ${cells[2]}`);
    assert(/^\d{4}-\d\d-\d\dT/.test(cells[5]), `heartbeat: ${cells[5]}`);
    await screenshot(page, 'instances');
  });

  await t('the instance page shows sshd\'s host keys with their SHA256 fingerprints', async () => {
    await page.getByRole('link', { name: INSTANCE, exact: true }).click();
    await waitTitle(page, `Instance ${INSTANCE}`);
    const row = page.locator('#hostkeys tbody tr', { hasText: 'ssh-ed25519' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[1] === env('LK_HOSTKEY_FP'), `fingerprint: ${cells[1]}, ssh-keygen -l: ${env('LK_HOSTKEY_FP')}`);
    assert(/^\d{4}-\d\d-\d\dT/.test(cells[2]) && /^\d{4}-\d\d-\d\dT/.test(cells[3]), `times: ${cells[2]} ${cells[3]}`);
    const lines = await page.textContent('#known-hosts');
    assert(lines.includes(`${INSTANCE} ${env('LK_HOSTKEY_PUB')}`), `known_hosts lines: ${lines}`);
    await screenshot(page, 'instance');
    await page.getByRole('link', { name: '← All instances' }).click();
    await waitTitle(page, 'Instances');
  });

  await t('the Instances filter box hides what does not match', async () => {
    await page.fill('#instance-filter', 'no-such-instance-zzz');
    await page.locator('tbody tr', { hasText: INSTANCE }).waitFor({ state: 'hidden' });
    await page.fill('#instance-filter', INSTANCE.slice(0, 8));
    await page.locator('tbody tr', { hasText: INSTANCE }).waitFor();
  });

  await t('... and applies what was typed while the list was loading', async () => {
    // DescribeInstances held back a second, so the typing comes first.
    const slow = async (route) => {
      if ((route.request().postData() || '').includes('"DescribeInstances"')) {
        await new Promise((r) => setTimeout(r, 1000));
      }
      await route.continue();
    };
    await page.route('**/api/call', slow);
    try {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator('.status', { hasText: 'Loading' }).waitFor();
      await page.fill('#instance-filter', 'no-such-instance-zzz');
      await page.locator('.status', { hasText: 'shown' }).waitFor();
      const status = await page.locator('.status').first().textContent();
      assert(/^0 of \d+ shown$/.test(status), `status: ${status}`);
      assert(await page.locator('tbody tr', { hasText: INSTANCE }).isHidden(), 'the instance is shown');
    } finally {
      await page.unroute('**/api/call', slow);
    }
    await page.fill('#instance-filter', '');
  });

  await t('Common Commands lists the public commands with parameters and version', async () => {
    await page.getByRole('link', { name: 'Commands' }).click();
    await waitTitle(page, 'Common Commands');
    const row = page.locator('tbody tr', { hasText: SEND_KEY });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(/username/.test(cells[2]) && /sshPublicKey/.test(cells[2]), `parameters: ${cells[2]}`);
    assert(cells[3] === '1', `version: ${cells[3]}`);
    await screenshot(page, 'common-commands');
  });

  await t('the plug-in is installed through Create Task (ACS-ECS-InstallPlugin-linux.sh)', async () => {
    await openTask(page, INSTALL);
    const v = await page.locator('#panel textarea, #panel input[name=pluginName]').first().inputValue();
    assert(v === 'config_ecs_instance_connect', `default: ${v}`);
    await pickInstance(page);
    await page.click('#task-submit');
    await waitStatus(page, ['Success'], 120000);
  });

  await t('the SendSshPublicKey panel: defaults, required mark, the plug-in command', async () => {
    await page.goto(`${URL_}#/commands/common`);
    await openTask(page, SEND_KEY);
    assert((await page.textContent('#plugin-install')) === PLUGIN_CMD, 'no plug-in install command');
    assert(await page.locator('#panel input[name=username]').inputValue() === 'root', 'username default');
    const key = page.locator('#panel textarea[name=sshPublicKey]');
    assert(await key.getAttribute('aria-required') === 'true', 'sshPublicKey not marked required');
    await screenshot(page, 'create-task');
  });

  await t('Create Task without the key: the error is next to the key field', async () => {
    await page.fill('#panel input[name=username]', env('LK_LOGIN_USER'));
    await pickInstance(page);
    await page.click('#task-submit');
    const id = await page.locator('#panel textarea[name=sshPublicKey]').getAttribute('id');
    await page.locator(`#${id}-error`, { hasText: 'required' }).waitFor();
  });

  await t('an API error lands next to its field (a username the pattern refuses)', async () => {
    const user = page.locator('#panel input[name=username]');
    await page.fill('#panel textarea[name=sshPublicKey]', fs.readFileSync(env('LK_PUBKEY_FILE'), 'utf8').trim());
    await user.fill('bad user!');
    await page.click('#task-submit');
    const id = await user.getAttribute('id');
    await page.locator(`#${id}-error`, { hasText: 'InvalidParameter.Parameters' }).waitFor();
    assert(await user.getAttribute('aria-invalid') === 'true', 'not marked invalid');
    await screenshot(page, 'create-task-error');
    await user.fill(env('LK_LOGIN_USER'));
  });

  await t('a key that is not a key: the invocation fails, with its exit code and output', async () => {
    const key = page.locator('#panel textarea[name=sshPublicKey]');
    await key.fill('ssh-ed25519 not-base64 x');
    await page.click('#task-submit');
    // send_ssh_public_key rejects it on the server: the invocation fails,
    // and the console shows the real exit code and message.
    await waitStatus(page, ['Failed'], 60000);
    const out = await page.locator('#results pre').first().textContent();
    assert(out.length > 0, 'no output');
    const code = await page.locator('#results .exit-code').first().textContent();
    assert(code !== '0', `exit code ${code}`);
  });

  let invokeId;
  await t('send the key: the public key picked from a file, Create Task, Success', async () => {
    await page.goto(`${URL_}#/commands/common`);
    await openTask(page, SEND_KEY);
    await page.fill('#panel input[name=username]', env('LK_LOGIN_USER'));
    const keyId = await page.locator('#panel textarea[name=sshPublicKey]').getAttribute('id');
    await page.setInputFiles(`#${keyId}-file`, env('LK_PUBKEY_FILE'));
    const want = fs.readFileSync(env('LK_PUBKEY_FILE'), 'utf8').trim();
    await page.waitForFunction(([id, w]) => document.getElementById(id).value === w, [keyId, want]);
    await pickInstance(page);
    await page.click('#task-submit');
    invokeId = await waitStatus(page, ['Success'], 60000);
    const code = await page.locator('#results .exit-code').first().textContent();
    assert(code === '0', `exit code ${code}`);
    await screenshot(page, 'invocation-success');
  });

  await t('after the push, the next step: ssh USER@ADDRESS until HH:MM:SS (the expiry the plug-in printed)', async () => {
    const hint = page.locator(`.push-hint[data-instance="${INSTANCE}"]`);
    await hint.waitFor();
    const text = await hint.textContent();
    assert(text.startsWith('Log in now: '), `hint: ${text}`);
    const ssh = await hint.locator('.push-ssh').textContent();
    assert(new RegExp(`^ssh ${env('LK_LOGIN_USER')}@\\d+\\.\\d+\\.\\d+\\.\\d+$`).test(ssh), `command: ${ssh}`);
    assert(text.includes(`ssh ${env('LK_LOGIN_USER')}@${INSTANCE}`), `no ssh USER@i-… in: ${text}`);
    const until = hint.locator('.push-until');
    assert(/^\d\d:\d\d:\d\d$/.test(await until.textContent()), `until: ${await until.textContent()}`);
    const left = Date.parse(await until.getAttribute('datetime')) - Date.now();
    assert(left > 0 && left <= 61000, `expiry ${left} ms from now`);
    const out = await page.locator(`#results pre[aria-label="Output of ${INSTANCE}"]`).textContent();
    const stored = / until (\S+Z) /.exec(out);
    assert(stored, `no "until" in the output: ${out}`);
    const shown = new Date(await until.getAttribute('datetime')).toISOString();
    assert(shown === new Date(stored[1]).toISOString(),
      `the hint says ${shown}, the plug-in stored the key until ${stored[1]}`);
    await screenshot(page, 'push-hint');
  });

  await t('Invocations lists it as Success, 1/1 finished', async () => {
    await page.getByRole('link', { name: 'Invocations', exact: true }).click();
    await waitTitle(page, 'Invocations');
    const row = page.locator('tbody tr', { hasText: invokeId || 'none' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[2] === 'Success', `status ${cells[2]}`);
    assert(cells[3].includes('1/1 finished') && cells[3].includes(`${INSTANCE}: Success`), `progress ${cells[3]}`);
    await screenshot(page, 'invocations');
  });

  await t('no script error or CSP violation in the pages', async () => {
    assert(problems.length === 0, problems.join('; '));
  });
  await ctx.close();
}

// ---------------------------------------------------------------------

async function createCommand(page, name, desc, content, timeout) {
  await page.goto(`${URL_}#/commands/mine`);
  await waitTitle(page, 'My Commands');
  if (await page.locator('#panel').count()) await page.click('#panel-close');
  await page.locator('#panel').waitFor({ state: 'detached' });
  await page.click('#new-command');
  await page.fill('#cc-name', name);
  await page.fill('#cc-description', desc);
  await page.fill('#cc-content', content);
  if (timeout) await page.fill('#cc-timeout', timeout);
  await page.click('#cc-submit');
}

async function callInPage(page, body, token) {
  return page.evaluate(async ([b, tok]) => {
    const h = { 'Content-Type': 'application/json' };
    if (tok !== null) h['X-CSRF-Token'] = tok;
    const r = await fetch('api/call', { method: 'POST', headers: h, body: JSON.stringify(b) });
    return { status: r.status, body: await r.json() };
  }, [body, token]);
}

async function csrfToken(page) {
  return page.evaluate(async () => (await (await fetch('api/session')).json()).CsrfToken);
}

async function commandCount(page, name) {
  const r = await callInPage(page, { Action: 'DescribeCommands', Params: { Name: name } }, await csrfToken(page));
  assert(r.status === 200, `DescribeCommands: ${JSON.stringify(r.body)}`);
  return r.body.TotalCount;
}

async function phaseRest() {
  let b;
  await t('chromium starts again with a fresh profile', async () => { b = await launch('rest'); });
  if (!b) return;
  const { ctx, page } = b;

  await t('sign in with the access key again', async () => {
    await signinKey(page, env('LK_AK_SECRET'));
    await waitTitle(page, 'Instances');
  });

  await t('a hostile command name and description render as text (My Commands)', async () => {
    await createCommand(page, HOSTILE_NAME, HOSTILE_DESC, `printf '%s\\n' '${HOSTILE_OUT}'`);
    const row = page.locator('tbody tr', { hasText: HOSTILE_NAME });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[0].startsWith(HOSTILE_NAME), `name cell: ${cells[0]}`);
    assert(cells[1] === HOSTILE_DESC, `description cell: ${cells[1]}`);
    assert(await page.locator('#view img, #view script:not([src])').count() === 0, 'markup was rendered');
    assert(await pwned(page) === undefined, 'script ran');
    await screenshot(page, 'my-commands-hostile');
  });

  await t('hostile output and the hostile name render as text on the invocation page', async () => {
    await openTask(page, HOSTILE_NAME);
    assert((await page.textContent('#panel-title')) === `Create Task: ${HOSTILE_NAME}`, 'panel title');
    await pickInstance(page);
    await page.click('#task-submit');
    await waitStatus(page, ['Success'], 60000);
    const out = await page.locator('#results pre').first().textContent();
    assert(out.includes(HOSTILE_OUT), `output: ${out}`);
    assert(await page.locator('#view img, #view b').count() === 0, 'markup was rendered');
    assert(await pwned(page) === undefined, 'script ran');
    await screenshot(page, 'hostile-output');
  });

  await t('an API error is shown next to the field that caused it (Timeout 5)', async () => {
    await createCommand(page, 'console-bad-timeout', '', 'true', '5');
    await page.locator('#cc-timeout-error', { hasText: 'InvalidParameter' }).waitFor();
    assert(await page.getAttribute('#cc-timeout', 'aria-invalid') === 'true', 'not marked invalid');
    await screenshot(page, 'create-command-error');
  });

  await t('Stop ends a running invocation (Stopped)', async () => {
    await createCommand(page, 'console-sleep', 'sleeps', 'sleep 120', '');
    await page.locator('tbody tr', { hasText: 'console-sleep' }).waitFor();
    await openTask(page, 'console-sleep');
    await pickInstance(page);
    await page.click('#task-submit');
    await waitStatus(page, ['Running', 'Pending'], 30000);
    await page.click('#stop-invocation');
    await waitStatus(page, ['Stopped'], 60000);
    await screenshot(page, 'invocation-stopped');
  });

  await t('a forged call without the CSRF token is refused (403) and creates nothing', async () => {
    const r = await callInPage(page, { Action: 'CreateCommand', Params: { Name: 'forged-no-csrf',
      Type: 'RunShellScript', CommandContent: 'dHJ1ZQ==' } }, null);
    assert(r.status === 403 && r.body.Code === 'Forbidden.CSRF', JSON.stringify(r));
    assert(await commandCount(page, 'forged-no-csrf') === 0, 'the command exists');
  });

  await t('a wrong CSRF token is refused too', async () => {
    const r = await callInPage(page, { Action: 'CreateCommand', Params: { Name: 'forged-bad-csrf',
      Type: 'RunShellScript', CommandContent: 'dHJ1ZQ==' } }, '0'.repeat(32));
    assert(r.status === 403, JSON.stringify(r));
    assert(await commandCount(page, 'forged-bad-csrf') === 0, 'the command exists');
  });

  await t('a cross-site form post is refused and creates nothing', async () => {
    const evil = await ctx.newPage();
    const field = JSON.stringify({ Action: 'CreateCommand', Params: { Name: 'forged-form',
      Type: 'RunShellScript', CommandContent: 'dHJ1ZQ==' }, x: '' }).slice(0, -2);
    await evil.setContent(`<form id=f method=POST action="${URL_}api/call" enctype="text/plain">` +
      `<input type=hidden name='${field.replace(/'/g, '&#39;')}' value='"}'></form>`);
    const [resp] = await Promise.all([evil.waitForResponse(/api\/call/), evil.evaluate(() => document.getElementById('f').submit())]);
    assert([401, 403, 415].includes(resp.status()), `status ${resp.status()}`);
    await evil.close();
    assert(await commandCount(page, 'forged-form') === 0, 'the command exists');
  });

  await t('a call with the cookie and token but another Origin is refused (403)', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    const tok = await csrfToken(page);
    const r = await raw('POST', 'api/call', { 'Content-Type': 'application/json', Cookie: `lk_console=${c.value}`,
      'X-CSRF-Token': tok, Origin: 'http://evil.example' }, JSON.stringify({ Action: 'CreateCommand',
      Params: { Name: 'forged-origin', Type: 'RunShellScript', CommandContent: 'dHJ1ZQ==' } }));
    assert(r.status === 403 && r.body.Code === 'Forbidden.Origin', `${r.status} ${r.text}`);
    assert(await commandCount(page, 'forged-origin') === 0, 'the command exists');
  });

  await t('console responses carry the security headers', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    const r = await raw('GET', 'api/session', { Cookie: `lk_console=${c.value}` });
    const h = r.headers;
    assert(h['content-security-policy'].startsWith("default-src 'self'; frame-ancestors 'none'"), 'CSP');
    assert(h['x-content-type-options'] === 'nosniff' && h['referrer-policy'] === 'no-referrer', 'nosniff/referrer');
    assert(h['cache-control'] === 'no-store', 'no-store');
  });

  await t('after sign-out the old session cookie no longer works', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    const tok = await csrfToken(page);
    const before = await raw('GET', 'api/session', { Cookie: `lk_console=${c.value}` });
    assert(before.status === 200, `before: ${before.status}`);
    await page.click('#signout');
    await page.locator('#signin-form').waitFor();
    await screenshot(page, 'signed-out');
    const after = await raw('GET', 'api/session', { Cookie: `lk_console=${c.value}` });
    assert(after.status === 401, `session after sign-out: ${after.status}`);
    const call = await raw('POST', 'api/call', { 'Content-Type': 'application/json', Cookie: `lk_console=${c.value}`,
      'X-CSRF-Token': tok }, JSON.stringify({ Action: 'DescribeInstances' }));
    assert(call.status === 401, `call after sign-out: ${call.status}`);
    assert(!(await ctx.cookies()).some((x) => x.name === 'lk_console'), 'the browser kept the cookie');
  });

  await t('an operator with a wrong password sees the error next to the password', async () => {
    await page.goto(URL_);
    await page.check('input[name=kind][value=operator]');
    await page.fill('#op-name', env('LK_OPERATOR'));
    await page.fill('#op-password', 'not-the-password');
    await page.click('#signin-submit');
    await page.locator('#op-password-error', { hasText: 'not correct' }).waitFor();
  });

  await t('the operator (latchkeyd operator create) signs in and sees the instance', async () => {
    await page.fill('#op-password', env('LK_OPERATOR_PW'));
    await page.click('#signin-submit');
    await waitTitle(page, 'Instances');
    assert((await page.textContent('#who')) === `Operator ${env('LK_OPERATOR')}`, 'who');
    await page.locator('tbody tr', { hasText: INSTANCE }).waitFor();
  });

  await t('the operator sees only its own commands (not the access key\'s)', async () => {
    await page.goto(`${URL_}#/commands/mine`);
    await waitTitle(page, 'My Commands');
    await page.locator('.empty, tbody').first().waitFor();
    assert(await page.locator('tbody tr', { hasText: 'console-sleep' }).count() === 0, 'sees the key\'s command');
  });

  await t('Settings: the plug-in install command and the session management switch', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await waitTitle(page, 'Settings');
    assert((await page.textContent('#settings-plugin-install')) === PLUGIN_CMD, 'install command');
    await page.waitForFunction(() => document.querySelector('#session-manager-state').textContent !== 'Loading…');
    const stateText = await page.textContent('#session-manager-state');
    assert(/^(Enabled|Disabled)\.$/.test(stateText), `switch state: ${stateText}`);
    {
      const sw = page.locator('#session-manager');
      const was = await sw.isChecked();
      await sw.click();
      await page.waitForFunction((w) => {
        const s = document.querySelector('#session-manager');
        return !s.disabled && s.checked === w;
      }, !was);
      assert(await page.textContent('#session-manager-error') === '', await page.textContent('#session-manager-error'));
      await page.reload();
      await waitTitle(page, 'Settings');
      await page.waitForFunction(() => !document.querySelector('#session-manager').disabled);
      assert(await sw.isChecked() === !was, 'the setting did not persist');
    }
    await screenshot(page, 'settings');
  });

  await t('the operator session is written for the shell\'s disable test', async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    fs.writeFileSync(env('LK_OP_SESSION_FILE'), `${c.value} ${await csrfToken(page)}\n`);
  });

  await t('no script error or CSP violation in the pages', async () => {
    assert(problems.length === 0, problems.join('; '));
  });
  await ctx.close();
}

// ---------------------------------------------------------------------
// The Audit page (DescribeAuditEvents, the API's policy).

async function auditRows(page) {
  await page.waitForFunction(() => {
    const s = document.querySelector('#audit-status');
    return s && s.textContent !== 'Loading…';
  });
  return page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.textContent)));
}

async function auditFilter(page, f) {
  for (const k of ['instance', 'user', 'since', 'kind']) await page.fill(`#audit-${k}`, f[k] || '');
  await page.evaluate(() => { document.querySelector('#audit-status').textContent = 'Loading…'; });
  await page.click('#audit-apply');
  return auditRows(page);
}

async function phaseAudit() {
  const { ctx, page } = await launch('audit');
  await t('the Audit page lists the events, newest first, for a key allowed all', async () => {
    await signinKey(page, env('LK_AK_SECRET'));
    await waitTitle(page, 'Instances');
    await page.getByRole('link', { name: 'Audit' }).click();
    await waitTitle(page, 'Audit');
    const rows = await auditRows(page);
    assert(rows.length > 5, `rows: ${rows.length}`);
    const seqs = rows.map((r) => Number(r[0]));
    assert(seqs.every((s, i) => i === 0 || s < seqs[i - 1]), `not newest first: ${seqs}`);
    const kinds = rows.map((r) => r[2]);
    for (const k of ['key.push', 'console.signin', 'api.call']) assert(kinds.includes(k), `no ${k} in ${kinds}`);
    assert(rows.some((r) => r[3].startsWith('admin ')), 'the admin\'s events are not shown');
    await screenshot(page, 'audit');
  });
  await t('filters: instance, user and kind narrow the list to the key pushes', async () => {
    const rows = await auditFilter(page, { instance: INSTANCE, user: env('LK_LOGIN_USER'), kind: 'key.push' });
    assert(rows.length >= 1, 'no key.push');
    for (const r of rows) {
      assert(r[2] === 'key.push', `kind ${r[2]}`);
      assert(r[4] === `${env('LK_LOGIN_USER')}@${INSTANCE}`, `target ${r[4]}`);
      assert(typeof JSON.parse(r[6]).fingerprint === 'string', `detail ${r[6]}`);
    }
    // The key the send phase pushed (others were refused by the command).
    assert(rows.some((r) => JSON.parse(r[6]).fingerprint.startsWith('SHA256:')), 'no pushed key\'s fingerprint');
  });
  await t('since: a future time shows none, a malformed one its error', async () => {
    let rows = await auditFilter(page, { since: '2100-01-01T00:00:00Z' });
    assert(rows.length === 0, `rows: ${rows.length}`);
    assert(await page.textContent('#audit-status') === '0 events', await page.textContent('#audit-status'));
    await page.fill('#audit-since', 'yesterday');
    await page.click('#audit-apply');
    await page.locator('#audit-since-error', { hasText: 'YYYY-MM-DDThh:mm:ssZ' }).waitFor();
    rows = await auditFilter(page, {});
    assert(rows.length > 5, 'the list did not come back');
  });
  await t('hostile values in events are shown as text', async () => {
    // The rest phase created a command named with markup: its events hold it.
    const rows = await auditFilter(page, { kind: 'api.call' });
    assert(rows.some((r) => r[6].includes('<img src=x')), 'the hostile name is not in any event');
    assert(!(await page.$('#audit-table img, #audit-table script')), 'markup became elements');
    assert(!(await pwned(page)), 'a value ran as script');
  });
  await ctx.close();
  const second = await launch('audit-limited');
  await t('a key limited to its own events sees only them (the API\'s policy)', async () => {
    const p = second.page;
    await p.goto(URL_);
    await p.locator('#signin-form').waitFor();
    await p.fill('#ak-id', env('LK_AK2_ID'));
    await p.fill('#ak-secret', env('LK_AK2_SECRET'));
    await p.click('#signin-submit');
    await waitTitle(p, 'Instances');
    await p.goto(`${URL_}#/audit`);
    await waitTitle(p, 'Audit');
    const rows = await auditRows(p);
    assert(rows.length >= 1, 'no own events');
    for (const r of rows) assert(r[3] === `key ${env('LK_AK2_ID')}`, `someone else's event: ${r[3]}`);
  });
  await t('a key not allowed TagResources/UntagResources sees the tags, without the form or Remove', async () => {
    const p = second.page;
    await p.goto(`${URL_}#/instance/${INSTANCE}`);
    await waitTitle(p, `Instance ${INSTANCE}`);
    await p.locator('#tags-list li[data-key="seed"]', { hasText: 'seed=shell' }).waitFor();
    assert(await p.locator('#tag-form').count() === 0, 'a tag form for a key without TagResources');
    assert(await p.locator('#tags-list button').count() === 0, 'a Remove button for a key without UntagResources');
  });
  await t('no script error or CSP violation on the Audit page', async () => {
    assert(problems.length === 0, problems.join('; '));
  });
  await second.ctx.close();
}

// ---------------------------------------------------------------------
// The operator's pages: instances (rename, remove), activations, Send
// File, access keys, everyone's invocations and sessions.

async function signinOperator(page) {
  await page.goto(URL_);
  await page.locator('#signin-form').waitFor();
  await page.check('input[name=kind][value=operator]');
  await page.fill('#op-name', env('LK_OPERATOR'));
  await page.fill('#op-password', env('LK_OPERATOR_PW'));
  await page.click('#signin-submit');
  await waitTitle(page, 'Instances');
}

// Submits the Send File panel and waits for the send to end; its results.
async function sendFile(page) {
  await page.evaluate(() => { const r = document.querySelector('#sf-results'); while (r.firstChild) r.firstChild.remove(); });
  await page.click('#sf-submit');
  await page.locator('#sf-status', { hasText: /Success|Failed/ }).waitFor({ timeout: 60000 });
  return page.textContent('#sf-table tbody');
}

let env_ak = '';
async function phaseOps() {
  env_ak = env('LK_AK_ID');
  const { ctx, page } = await launch('ops');
  const out = {};
  const save = () => fs.writeFileSync(env('LK_OPS_OUT'), Object.entries(out).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const spare = env('LK_SPARE_INSTANCE');
  await t('the operator signs in', async () => { await signinOperator(page); });

  await t('an instance is renamed from its page (ModifyManagedInstance)', async () => {
    await page.goto(`${URL_}#/instance/${spare}`);
    await waitTitle(page, `Instance ${spare}`);
    await page.getByLabel('Name', { exact: true }).fill('console-renamed');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.locator('#rename-status', { hasText: 'Renamed to console-renamed.' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('9bad name');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.locator('#rename-name-error', { hasText: 'InvalidInstanceName.Malformed' }).waitFor();
    await page.goto(`${URL_}#/instances`);
    await page.locator('tbody tr', { hasText: 'console-renamed' }).waitFor();
  });

  await t('a tag is added on the instance page, shown there and in Instances, and removed', async () => {
    await page.goto(`${URL_}#/instance/${INSTANCE}`);
    await waitTitle(page, `Instance ${INSTANCE}`);
    await page.locator('#tags-list li[data-key="seed"]', { hasText: 'seed=shell' }).waitFor();
    const input = page.getByLabel('Add a tag (KEY=VALUE)');
    await input.fill('no-equals');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.locator('#tag-add-error', { hasText: 'KEY=VALUE' }).waitFor();
    await input.fill('aliyun:env=x');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.locator('#tag-add-error', { hasText: 'InvalidTagKey.Malformed' }).waitFor();
    await input.fill('env=console <b>x</b>');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.locator('#tags-status', { hasText: 'Tagged env=console <b>x</b>.' }).waitFor();
    await page.locator('#tags-list li[data-key="env"]', { hasText: 'env=console <b>x</b>' }).waitFor();
    assert(await page.locator('#tags-list b').count() === 0, 'a tag value became markup');
    await screenshot(page, 'instance-tags');
    await page.goto(`${URL_}#/instances`);
    await waitTitle(page, 'Instances');
    const cell = page.locator('tbody tr', { hasText: INSTANCE }).locator('td.tags');
    await cell.locator('.tag', { hasText: 'env=console <b>x</b>' }).waitFor();
    assert((await cell.textContent()).includes('seed=shell'), `tags cell: ${await cell.textContent()}`);
    await page.fill('#instance-filter', 'env=console');
    assert(await page.locator('tbody tr:not([hidden])', { hasText: INSTANCE }).count() === 1, 'the filter does not match tags');
    await page.goto(`${URL_}#/instance/${INSTANCE}`);
    await waitTitle(page, `Instance ${INSTANCE}`);
    await page.getByRole('button', { name: 'Remove tag env' }).click();
    await page.locator('#tags-status', { hasText: 'Removed env.' }).waitFor();
    await page.locator('#tags-list li[data-key="env"]').waitFor({ state: 'detached' });
    await page.locator('#tags-list li[data-key="seed"]').waitFor();
    await page.goto(`${URL_}#/instances`);
    await waitTitle(page, 'Instances');
    const cell2 = page.locator('tbody tr', { hasText: INSTANCE }).locator('td.tags');
    await cell2.locator('.tag', { hasText: 'seed=shell' }).waitFor();
    assert(!(await cell2.textContent()).includes('env='), `removed tag still listed: ${await cell2.textContent()}`);
  });

  await t('an instance is removed after a confirmation (DeregisterManagedInstance)', async () => {
    await page.goto(`${URL_}#/instance/${spare}`);
    await waitTitle(page, `Instance ${spare}`);
    await page.getByRole('button', { name: 'Remove instance' }).click();
    const dlg = page.getByRole('alertdialog');
    await dlg.waitFor();
    await screenshot(page, 'instance-remove-confirm');
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    await dlg.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Remove instance' }).click();
    await page.getByRole('button', { name: `Remove ${spare}` }).click();
    await waitTitle(page, 'Instances');
    await page.locator('tbody tr', { hasText: INSTANCE }).waitFor();
    assert(await page.locator('tbody tr', { hasText: spare }).count() === 0, 'the removed instance is listed');
  });

  await t('Activations lists uses left, expiry and state; Disable disables one', async () => {
    await page.getByRole('link', { name: 'Activations' }).click();
    await waitTitle(page, 'Activations');
    const id = env('LK_DIS_ACTIVATION');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    assert((await row.locator('.uses-left').textContent()) === '3 of 3', await row.locator('.uses-left').textContent());
    assert((await row.locator('.activation-state').textContent()) === 'active', 'not active');
    await page.getByRole('button', { name: `Disable ${id}` }).click();
    await page.locator(`tr[data-id="${id}"] .activation-state`, { hasText: 'disabled' }).waitFor();
    assert(await page.getByRole('button', { name: `Disable ${id}` }).count() === 0, 'still a Disable button');
    await screenshot(page, 'activations');
  });

  await t('Create Activation: a malformed range by its field, then the code shown once', async () => {
    await page.click('#activation-new');
    await page.fill('#act-count', '2');
    await page.fill('#act-description', 'console-made');
    await page.fill('#act-range', '10.0.0.1/8');
    await page.click('#act-submit');
    await page.locator('#act-range-error', { hasText: 'InvalidIpAddressRange' }).waitFor();
    await page.fill('#act-range', '127.0.0.0/8');
    await page.click('#act-submit');
    out.ACT_ID = await page.locator('#act-new-id').textContent();
    out.ACT_CODE = await page.locator('#act-new-code').textContent();
    assert(/^act-[0-9a-f]{32}$/.test(out.ACT_ID), out.ACT_ID);
    assert(out.ACT_CODE.length >= 16, 'no code');
    save();
    await screenshot(page, 'activation-created');
    await page.click('#act-done');
    await page.locator(`tr[data-id="${out.ACT_ID}"]`).waitFor();
    assert(!(await page.textContent('#view')).includes(out.ACT_CODE), 'the code is shown again');
  });

  await t('Send File from the instance page: typed content, mode 0640, results shown', async () => {
    await page.goto(`${URL_}#/instance/${INSTANCE}`);
    await waitTitle(page, `Instance ${INSTANCE}`);
    await page.getByRole('button', { name: 'Send File' }).click();
    await page.getByLabel('File name').fill('console.txt');
    await page.getByLabel('Target directory').fill(env('LK_FILES_DIR'));
    await page.getByLabel('Mode').fill('0640');
    await page.getByLabel('Content', { exact: true }).fill('from the console\n');
    const st = await sendFile(page);
    assert(st.includes('Success'), `results: ${st}`);
    await screenshot(page, 'sendfile');
  });

  await t('Send File with a picked (binary) file; an existing name fails without Overwrite', async () => {
    await page.getByLabel('File name').fill('');
    await page.setInputFiles('#sf-file', { name: 'blob.bin', mimeType: 'application/octet-stream',
      buffer: Buffer.from([0, 1, 2, 255, 254, 10]) });
    await page.locator('#sf-file-status', { hasText: '6 bytes' }).waitFor();
    assert(await page.getByLabel('File name').inputValue() === 'blob.bin', 'the name was not taken from the file');
    let st = await sendFile(page);
    assert(st.includes('Success'), `blob: ${st}`);
    st = await sendFile(page);
    assert(st.includes('Failed') && st.includes('FileAlreadyExists'), `again: ${st}`);
    await page.getByLabel('Target directory').fill('relative/dir');
    await page.click('#sf-submit');
    await page.locator('#sf-dir-error', { hasText: 'InvalidParameter.TargetDir' }).waitFor();
  });

  await phaseOpsMore(page, out, save);

  await t('Invocations for the operator: mine, one access key\'s (with its owner), everyone\'s; one opens', async () => {
    await page.goto(`${URL_}#/invocations`);
    await waitTitle(page, 'Invocations');
    await page.selectOption('#inv-owner', 'key');
    await page.fill('#inv-owner-key', env('LK_AK_ID'));
    await page.click('#inv-owner-apply');
    await page.locator('#view tbody tr').first().waitFor();
    const owners = await page.$$eval('#view tbody tr', (trs) => trs.map((tr) => tr.dataset.owner));
    assert(owners.length >= 3 && owners.every((o) => o === env_ak), `owners: ${owners}`);
    const keyRows = owners.length;
    await page.selectOption('#inv-owner', '*');
    await page.click('#inv-owner-apply');
    await page.locator('#view th', { hasText: 'Owner' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#view tbody tr').length > 0);
    const all = await page.$$eval('#view tbody tr', (trs) => trs.map((tr) => tr.dataset.owner));
    assert(all.length >= keyRows, `everyone's ${all.length} < the key's ${keyRows}`);
    await screenshot(page, 'invocations-everyone');
    await page.locator('#view tbody tr a').first().click();
    await page.waitForFunction(() => document.querySelectorAll('#results .result').length > 0);
    await page.goto(`${URL_}#/invocations`);
    await page.selectOption('#inv-owner', '');
    await page.click('#inv-owner-apply');
    await page.locator('#view th', { hasText: 'Owner' }).waitFor({ state: 'detached' });
  });

  await t('Sessions for the operator, filtered by access key', async () => {
    await page.getByRole('link', { name: 'Sessions' }).click();
    await waitTitle(page, 'Sessions');
    await page.selectOption('#sess-owner', 'key');
    await page.fill('#sess-owner-key', env('LK_AK_ID'));
    await page.click('#sess-owner-apply');
    await page.locator('#sessions-status', { hasText: /^\d+ sessions?$/ }).waitFor();
    const ps = await page.$$eval('.sess-principal', (tds) => tds.map((td) => td.textContent));
    assert(ps.every((p) => p === env_ak), `principals: ${ps}`);
  });

  await t('no script error or CSP violation on the operator\'s pages', async () => {
    assert(problems.length === 0, problems.join('; '));
  });
  await ctx.close();
}

async function phaseOpsMore(page, out, save) {
  let id = '', secret = '';
  await t('Access keys: create one; the secret is shown once, with a warning and a copy button', async () => {
    await page.getByRole('link', { name: 'Access keys' }).click();
    await waitTitle(page, 'Access keys');
    await page.click('#accesskey-new');
    await page.getByLabel('Description').fill('made in the console');
    await page.getByLabel('Users').fill(`${env('LK_LOGIN_USER')}, `);
    await page.click('#ak-new-submit');
    id = await page.locator('#ak-new-id').textContent();
    secret = await page.locator('#ak-new-secret').textContent();
    assert(/^LTAI[A-Za-z0-9]+$/.test(id), `id ${id}`);
    assert(/^[A-Za-z0-9]{20,}$/.test(secret), 'no secret');
    assert((await page.getByRole('alert').filter({ hasText: 'shown only this once' }).count()) === 1, 'no warning');
    assert(await page.getByRole('button', { name: 'Copy secret' }).isVisible(), 'no copy button');
    out.KEY_ID = id;
    save();
    await screenshot(page, 'accesskey-created');
    await page.click('#ak-new-done');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert(cells[1] === 'made in the console' && cells[4] === env('LK_LOGIN_USER') && cells[2] === '*', `row: ${cells}`);
    assert(!(await page.textContent('#view')).includes(secret), 'the secret is shown again');
    const list = await page.evaluate(async () => {
      const tok = (await (await fetch('api/session')).json()).CsrfToken;
      const r = await fetch('api/accesskeys', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': tok },
        body: JSON.stringify({ Action: 'ListAccessKeys', Params: {} }) });
      return r.text();
    });
    assert(!list.includes(secret), 'ListAccessKeys carries the secret');
  });

  const second = await launch('ops-newkey');
  await t('the new key signs in to the console, sees no Access keys page and is refused there (403)', async () => {
    const p = second.page;
    await p.goto(URL_);
    await p.locator('#signin-form').waitFor();
    await p.fill('#ak-id', id);
    await p.fill('#ak-secret', secret);
    await p.click('#signin-submit');
    await waitTitle(p, 'Instances');
    await p.locator('tbody tr', { hasText: INSTANCE }).waitFor();
    assert(await p.getByRole('link', { name: 'Access keys' }).count() === 0, 'the link is shown to a key');
    const r = await p.evaluate(async () => {
      const tok = (await (await fetch('api/session')).json()).CsrfToken;
      const x = await fetch('api/accesskeys', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': tok },
        body: JSON.stringify({ Action: 'CreateAccessKey', Params: {} }) });
      return { status: x.status, body: await x.json() };
    });
    assert(r.status === 403 && r.body.Code === 'Forbidden.Operator', JSON.stringify(r));
  });

  await t('Disable: the key is disabled and its console session ends', async () => {
    await page.getByRole('button', { name: `Disable ${id}` }).click();
    await page.locator(`tr[data-id="${id}"] .key-state`, { hasText: 'disabled' }).waitFor();
    await second.page.getByRole('link', { name: 'Invocations', exact: true }).click();
    await second.page.locator('#signin-error', { hasText: 'sign in again' }).waitFor();
  });
  await second.ctx.close();
}

(async () => {
  try {
    if (process.argv[2] === 'send') await phaseSend();
    else if (process.argv[2] === 'rest') await phaseRest();
    else if (process.argv[2] === 'audit') await phaseAudit();
    else if (process.argv[2] === 'ops') await phaseOps();
    else throw new Error('usage: node console.test.js send|rest|audit|ops');
  } catch (e) {
    n++;
    failed++;
    console.log(`not ok ${n} - the browser test ran to its end`);
    console.log(`# ${String((e && e.stack) || e).split('\n').join('\n# ')}`);
  }
  report();
  process.exit(failed ? 1 : 0);
})();
