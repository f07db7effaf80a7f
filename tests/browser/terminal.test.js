'use strict';
// The console's terminal (issue 17) in Debian's chromium (headless),
// driven by playwright-core. Run by tests/integration/test_console_term.sh,
// which starts latchkeyd and an agent with --shell-users (README.md):
// sign in with an access key, Connect on the instance page, type
// `uname -s` and `id -un`, see `Linux` and the user in the terminal's
// text; resize the viewport and see `stty size` change; copy and paste;
// the forged WebSockets (no console session, another Origin, the token at
// /session) are refused; exit ends the page's session.
//
// Prints one TAP line per case, numbered from LK_TAP_START, and writes
// "LAST_NUMBER FAILURES" to LK_TAP_COUNTS.
const fs = require('node:fs');
const http = require('node:http');
const crypto = require('node:crypto');
const path = require('node:path');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set (see tests/browser/README.md)`);
  return process.env[k];
};
const URL_ = env('LK_URL');
const INSTANCE = env('LK_INSTANCE');
const USER = env('LK_LOGIN_USER');
const SHOTS = env('LK_SHOTS');

let n = Number(process.env.LK_TAP_START || 0);
let failed = 0;
const problems = [];

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
    for (const l of String((e && e.stack) || e).split('\n').slice(0, 8)) console.log(`# ${l}`);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

// A raw WebSocket opening handshake to path with headers; resolves the
// HTTP status (101 when the server upgraded) and the body.
function wsDial(p, headers) {
  const u = new URL(p, URL_);
  return new Promise((resolve, reject) => {
    const req = http.request(u, { method: 'GET', headers: Object.assign({
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64') }, headers) });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: 101, text: '' }); });
    req.on('response', (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, text: data }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

// The terminal's text (screen and scrollback) as the page holds it.
async function termText(page) {
  return page.evaluate(() => (window.lkTerminal ? window.lkTerminal.text() : ''));
}

async function waitText(page, re, ms) {
  const deadline = Date.now() + (ms || 15000);
  let last = '';
  while (Date.now() < deadline) {
    last = await termText(page);
    if (re.test(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`the terminal never showed ${re}; it shows:\n${last.trim().split('\n').slice(-6).join('\n')}`);
}

async function typeLine(page, line) {
  await page.locator('#terminal').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

async function main() {
  let ctx, page;
  await t('chromium starts headless', async () => {
    const dir = path.join(env('LK_PROFILE'), 'term');
    fs.mkdirSync(dir, { recursive: true });
    ctx = await chromium.launchPersistentContext(dir, {
      executablePath: env('LK_CHROMIUM'), headless: true,
      viewport: { width: 1200, height: 700 },
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      timeout: 60000,
    });
    page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[0-9]/.test(m.text())) problems.push(`console: ${m.text()}`); });
  });
  if (!page) return;

  await t('sign in with the access key', async () => {
    await page.goto(URL_);
    await page.locator('#signin-form').waitFor();
    await page.fill('#ak-id', env('LK_AK_ID'));
    await page.fill('#ak-secret', env('LK_AK_SECRET'));
    await page.click('#signin-submit');
    await page.locator('#view-title', { hasText: 'Instances' }).waitFor();
  });

  await t('the instance page has Connect, enabled for an online agent', async () => {
    await page.goto(URL_ + '#/instance/' + INSTANCE);
    await page.locator('#connect').waitFor();
    assert(await page.locator('#connect').isEnabled(), 'Connect is disabled');
  });

  await t(`Connect as ${USER} opens the terminal page, connected`, async () => {
    await page.fill('#connect-user', USER);
    await page.click('#connect');
    await page.waitForURL(/#\/terminal\//);
    await page.locator('#terminal-status', { hasText: 'Connected' }).waitFor();
    await page.locator('#terminal canvas').first().waitFor();
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  await t('type uname -s: the terminal shows Linux', async () => {
    await waitText(page, /[$#] *$/m);
    await typeLine(page, 'uname -s');
    await waitText(page, /^Linux\s*$/m);
  });

  await t(`id -un shows ${USER}`, async () => {
    await typeLine(page, 'id -un');
    await waitText(page, new RegExp(`^${USER}\\s*$`, 'm'));
    await page.screenshot({ path: path.join(SHOTS, 'terminal-01.png') });
  });

  let first = '';
  await t('stty size is the terminal\'s size, fitted to the page', async () => {
    const [cols, rows] = await page.evaluate(() => [window.lkTerminal.term.cols, window.lkTerminal.term.rows]);
    assert(cols > 80 && rows > 20, `the terminal is ${cols}x${rows} in a 1200x700 viewport`);
    await typeLine(page, 'echo SZ $(stty size)');
    await waitText(page, new RegExp(`^SZ ${rows} ${cols}\\s*$`, 'm'));
    first = `${rows} ${cols}`;
  });

  await t('a smaller viewport: stty size follows (winch)', async () => {
    await page.setViewportSize({ width: 800, height: 500 });
    await page.waitForFunction(() => window.lkTerminal.term.cols < 80);
    const [cols, rows] = await page.evaluate(() => [window.lkTerminal.term.cols, window.lkTerminal.term.rows]);
    await page.waitForTimeout(300);
    await typeLine(page, 'clear; echo SZ2 $(stty size)');
    const text = await waitText(page, new RegExp(`^SZ2 ${rows} ${cols}\\s*$`, 'm'));
    assert(`${rows} ${cols}` !== first, `the size did not change: ${first}`);
    assert(text, 'no text');
  });

  await t('copy: a selection of the terminal is what Copy puts on the clipboard', async () => {
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(URL_).origin });
    await typeLine(page, 'echo COPY-ME-42');
    await waitText(page, /^COPY-ME-42\s*$/m);
    await page.evaluate(() => window.lkTerminal.term.selectAll());
    await page.click('#terminal-copy');
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert(clip.includes('COPY-ME-42'), `the clipboard holds: ${clip.slice(-80)}`);
  });

  await t('paste: the clipboard\'s text is typed into the shell', async () => {
    await page.evaluate(() => navigator.clipboard.writeText('echo PASTED-$((6*7))\n'));
    await page.click('#terminal-paste');
    await waitText(page, /^PASTED-42\s*$/m);
  });

  // The forged WebSockets, outside the browser.
  const host = new URL(URL_).host;
  const origin = new URL(URL_).origin;
  const cookie = async () => {
    const c = (await ctx.cookies()).find((x) => x.name === 'lk_console');
    return c ? `lk_console=${c.value}` : '';
  };
  const csrf = async () => page.evaluate(() => fetch('api/session').then((r) => r.json()).then((j) => j.CsrfToken));
  // A fresh session's TerminalUrl, asked with the page's cookie and token.
  const fresh = async () => page.evaluate(async ([inst, user, tok]) => {
    const r = await fetch('api/terminal', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': tok },
      body: JSON.stringify({ Action: 'StartTerminalSession', Params: { 'InstanceId.1': inst, Username: user } }) });
    return { status: r.status, body: await r.json() };
  }, [INSTANCE, USER, await csrf()]);

  let spare = null;
  await t('api/terminal answers a TerminalUrl and no WebSocketUrl or token field', async () => {
    const r = await fresh();
    assert(r.status === 200, JSON.stringify(r));
    assert(/^\/console\/terminal\?sessionId=s-[0-9a-z]+&token=/.test(r.body.TerminalUrl), r.body.TerminalUrl);
    assert(!r.body.WebSocketUrl && !r.body.SecurityToken, JSON.stringify(r.body));
    spare = r.body.TerminalUrl;
  });

  await t('api/terminal without the CSRF token: 403', async () => {
    const r = await page.evaluate(async (inst) => {
      const x = await fetch('api/terminal', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ Action: 'StartTerminalSession', Params: { 'InstanceId.1': inst, Username: 'x' } }) });
      return x.status;
    }, INSTANCE);
    assert(r === 403, `status ${r}`);
  });

  await t('api/terminal refuses a port session (PortNumber): 400', async () => {
    const tok = await csrf();
    const r = await page.evaluate(async ([inst, t2]) => {
      const x = await fetch('api/terminal', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': t2 },
        body: JSON.stringify({ Action: 'StartTerminalSession', Params: { 'InstanceId.1': inst, PortNumber: 22 } }) });
      return x.status;
    }, [INSTANCE, tok]);
    assert(r === 400, `status ${r}`);
  });

  await t('api/terminal as a user the key\'s Users policy does not allow (root): 403 Forbidden.RAM', async () => {
    const tok = await csrf();
    const r = await page.evaluate(async ([inst, t2]) => {
      const x = await fetch('api/terminal', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': t2 },
        body: JSON.stringify({ Action: 'StartTerminalSession', Params: { 'InstanceId.1': inst, Username: 'root' } }) });
      return { status: x.status, body: await x.json() };
    }, [INSTANCE, tok]);
    assert(r.status === 403 && r.body.Code === 'Forbidden.RAM', JSON.stringify(r));
  });

  await t('a forged WebSocket with no console session is refused (401), its token unspent', async () => {
    const r = await wsDial(spare, { Host: host, Origin: origin });
    assert(r.status === 401 && /NotSignedIn/.test(r.text), `${r.status} ${r.text}`);
  });

  await t('a forged WebSocket from another Origin, with the cookie, is refused (403)', async () => {
    const r = await wsDial(spare, { Host: host, Origin: 'http://evil.example', Cookie: await cookie() });
    assert(r.status === 403 && /Forbidden.Origin/.test(r.text), `${r.status} ${r.text}`);
  });

  await t('a WebSocket with no Origin at all is refused (403)', async () => {
    const r = await wsDial(spare, { Host: host, Cookie: await cookie() });
    assert(r.status === 403, `${r.status} ${r.text}`);
  });

  await t('the console session\'s token dialled at /session (the API\'s path) is refused (403)', async () => {
    const q = spare.split('?')[1];
    const r = await wsDial('/session?' + q, { Host: host, 'Latchkey-Resume': '1' });
    assert(r.status === 403 && /Forbidden.ConsoleSession/.test(r.text), `${r.status} ${r.text}`);
  });

  await t('another console session (a second sign-in) cannot dial it (403)', async () => {
    const body = JSON.stringify({ AccessKeyId: env('LK_AK_ID'), AccessKeySecret: env('LK_AK_SECRET') });
    const sid = await new Promise((resolve, reject) => {
      const req = http.request(new URL('api/signin', URL_), { method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        const c = (res.headers['set-cookie'] || []).join(';');
        resolve((/lk_console=([0-9a-f]{64})/.exec(c) || [])[1]);
      });
      req.on('error', reject);
      req.end(body);
    });
    assert(sid, 'the second sign-in set no cookie');
    const r = await wsDial(spare, { Host: host, Origin: origin, Cookie: `lk_console=${sid}` });
    assert(r.status === 403 && /Forbidden.ConsoleSession/.test(r.text), `${r.status} ${r.text}`);
  });

  await t('the right cookie and Origin dial it (101): the checks above refused for their reason', async () => {
    const r = await wsDial(spare, { Host: host, Origin: origin, Cookie: await cookie() });
    assert(r.status === 101, `${r.status} ${r.text}`);
  });

  await t('exit 7 ends the session: the page says so', async () => {
    await typeLine(page, 'exit 7');
    await page.locator('#terminal-status', { hasText: 'exit status 7' }).waitFor();
    assert(await page.locator('#terminal-again').isVisible(), 'no Connect again');
  });

  // The agent runs with --record-shells (test_console_term.sh): the
  // session above was recorded; its Replay shows what it showed.
  // (The page cleared its screen before the copy test: the replay's
  // screen ends as the live one did.)
  await t('Replay on the instance page plays the recorded session: its screen ends as the live one did', async () => {
    const want = /^COPY-ME-42$[^]*^PASTED-42$[^]*exit 7/m;
    const deadline = Date.now() + 30000;
    let last = '', seen = 0;
    while (Date.now() < deadline) {
      // A goto to the URL the page is on changes nothing: go elsewhere
      // first, so that the instance page asks for its sessions again (the
      // recording arrives only after the session ended).
      await page.goto(URL_ + '#/instances');
      await page.goto(URL_ + '#/instance/' + encodeURIComponent(INSTANCE));
      await page.locator('#shell-sessions, #shell-sessions-none').first().waitFor();
      const ids = await page.$$eval('#shell-sessions a.replay', (as) => as.map((a) => a.getAttribute('href')));
      seen = Math.max(seen, ids.length);
      if (!ids.length) last = await page.evaluate(() => (document.querySelector('[aria-labelledby=shell-sessions-title]') || document.body).innerText);
      for (const href of ids) {
        await page.goto(URL_ + href);
        await page.locator('#replay-status', { hasText: /Playing|Finished/ }).waitFor();
        await page.locator('#replay-end').click();
        await page.locator('#replay-status', { hasText: 'Finished' }).waitFor();
        try { await waitText(page, want, 3000); } catch (e) { last = await termText(page); continue; }
        // The whole recording (the screen lost what clear wiped) has the rest:
        // its "o" events, concatenated, hold Linux and the user.
        const out = await page.evaluate(async (sid) => {
          const r = await api('DescribeTerminalSessionRecording', { SessionId: sid });
          return r.body.Recording.split('\n').slice(1).filter((l) => l)
            .map((l) => JSON.parse(l)).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
        }, decodeURIComponent(href.replace('#/replay/', '')));
        assert(/^Linux\r$/m.test(out) && out.includes(`\n${USER}\r\n`), `the output: ${JSON.stringify(out.slice(0, 300))}`);
        return;
      }
      await page.waitForTimeout(500);
    }
    throw new Error(`${seen} Replay links; none showed COPY-ME-42, PASTED-42, exit 7; the last:\n${last.trim().slice(-400)}`);
  });

  await t('no script error or CSP violation in the page', async () => {
    assert(problems.length === 0, problems.join('; '));
  });
  if (ctx) await ctx.close();
}

main().then(report, (e) => {
  n++;
  failed++;
  console.log(`not ok ${n} - the terminal test ran (${e && e.message})`);
  report();
}).finally(() => process.exit(0));
