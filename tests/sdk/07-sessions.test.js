'use strict';
// The session manager (issue 5) through the official SDKs, and its
// WebSocket relay dialled by hand.
//
// * The account switch: ModifyCloudAssistantSettings /
//   DescribeCloudAssistantSettings (SettingType SessionManagerConfig) round
//   trip through pop-core and the V3 client; StartTerminalSession is 403
//   InvalidOperation.SessionManagerDisabled while it is off.
// * StartTerminalSession / DescribeTerminalSessions / EndTerminalSession,
//   with the V3 typed models; hostile parameters and policies are refused
//   and record nothing.
// * The WebSocketUrl, dialled with a raw HTTP/1.1 Upgrade (Node 20 has no
//   WebSocket client): the first dial is 101 with the right
//   Sec-WebSocket-Accept; a used, ended, expired, foreign or garbage token
//   is refused with a JSON Code; the switch turned off after
//   StartTerminalSession refuses the dial.
// * Hostile frames after a 101 (oversized, fragmented past the limit,
//   unmasked, reserved opcode, long control frame): latchkeyd answers with
//   a close frame (1009 / 1002) and the connection ends within seconds; it
//   still answers API calls afterwards.
//
// test_sdk.sh starts latchkeyd with --session-token-ttl 3 for the expiry
// case. The agents run with the default --session-ports 22 and nothing
// listens on 127.0.0.1:22 on the test machine, so a session that reaches
// its agent ends with close code 4002 (the agent could not reach the port);
// the cases that depend on this check the port first.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const c = require('./common');

const { Ecs } = c;
const R = () => c.env.region;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TOKEN_TTL = 3; // test_sdk.sh: latchkeyd --session-token-ttl 3
const CLOSE = { normal: 1000, protocol: 1002, tooBig: 1009, portRefused: 4002, ended: 4003 };

// ---------------------------------------------------------------------
// A WebSocket client by hand

function wsKey() { return crypto.randomBytes(16).toString('base64'); }

function wsAccept(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

// One opening handshake. Resolves {status: 101, headers, ws} on an upgrade,
// or {status, headers, body, json} on a refusal.
// early: bytes written right behind the request, before the answer comes
// (frames latchkeyd then holds before the agent has even dialled back).
function wsDial(url, { key = wsKey(), headers = {}, method = 'GET', timeout = 10000, early } = {}) {
  const u = new URL(url);
  assert.equal(u.protocol, 'ws:', `a ws:// URL: ${url}`);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: Number(u.port), method, path: u.pathname + u.search,
      headers: Object.assign({
        Connection: 'Upgrade', Upgrade: 'websocket',
        'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13',
      }, headers),
      timeout,
      agent: false,
    });
    if (early) req.on('socket', (s) => s.once('connect', () => s.write(early)));
    req.on('upgrade', (res, socket, head) => {
      resolve({ status: res.statusCode, headers: res.headers, key, ws: new RawWs(socket, head) });
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(body); } catch (_) { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`WebSocket dial timed out: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

// The frames of binary messages, continuations included: latchkeyd passes a
// payload on as it arrives, so a message may come in several frames
// (RFC 6455 5.4 lets an intermediary fragment).
function dataFrames(ws) {
  const out = [];
  let inBinary = false;
  for (const f of ws.frames) {
    if (f.opcode === 2) inBinary = !f.fin;
    else if (f.opcode === 0 && inBinary) inBinary = !f.fin;
    else continue;
    out.push(f);
  }
  return out;
}

// A frame as a client sends it: masked unless mask is false. len overrides
// the payload length written in the header (for oversized headers).
function frame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0, len } = {}) {
  const n = len === undefined ? payload.length : len;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

function closePayload(code, reason = '') {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

// The client end of an upgraded connection: parses the server's frames
// (unmasked, as RFC 6455 requires of a server) and notes when it ends.
class RawWs {
  constructor(socket, head) {
    this.socket = socket;
    this.buf = Buffer.from(head || []);
    this.frames = [];
    this.ended = false;
    this.endedAt = 0;
    this.error = null;
    this.badFrame = null;
    this.wake = null;
    socket.setNoDelay(true);
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); this.poke(); });
    socket.on('error', (e) => { this.error = e; });
    socket.on('close', () => { this.ended = true; this.endedAt = Date.now(); this.poke(); });
    this.parse();
  }

  poke() { if (this.wake) { const w = this.wake; this.wake = null; w(); } }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const masked = (b[1] & 0x80) !== 0;
      let n = b[1] & 0x7f;
      let off = 2;
      if (n === 126) {
        if (b.length < 4) return;
        n = b.readUInt16BE(2); off = 4;
      } else if (n === 127) {
        if (b.length < 10) return;
        n = Number(b.readBigUInt64BE(2)); off = 10;
      }
      if (masked) this.badFrame = 'the server sent a masked frame';
      if (masked) off += 4;
      if (b.length < off + n) return;
      const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f,
        payload: b.subarray(off, off + n) };
      if (f.opcode === 8) {
        f.code = n >= 2 ? f.payload.readUInt16BE(0) : undefined;
        f.reason = n > 2 ? f.payload.subarray(2).toString('utf8') : '';
      }
      this.frames.push(f);
      this.buf = b.subarray(off + n);
    }
  }

  send(buf) {
    return new Promise((resolve) => {
      if (this.ended || this.socket.destroyed) { resolve(false); return; }
      this.socket.write(buf, (e) => resolve(!e));
    });
  }

  // Waits until pred() is true or the deadline; returns pred()'s value.
  async until(pred, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) return v;
      await new Promise((r) => {
        const t = setTimeout(() => { this.wake = null; r(); }, left);
        this.wake = () => { clearTimeout(t); r(); };
      });
    }
  }

  // The first close frame within timeoutMs, or null (ended without one, or
  // nothing came).
  async closeFrame(timeoutMs) {
    const find = () => this.frames.find((f) => f.opcode === 8);
    await this.until(() => find() || this.ended, timeoutMs);
    return find() || null;
  }

  // Whether the connection ended (the server closed it) within timeoutMs.
  async waitEnd(timeoutMs) {
    return Boolean(await this.until(() => this.ended, timeoutMs));
  }

  destroy() { this.socket.destroy(); }
}

// ---------------------------------------------------------------------
// Helpers

async function setSwitch(pop, on) {
  const res = await pop.request('ModifyCloudAssistantSettings', {
    RegionId: R(), SettingType: 'SessionManagerConfig',
    SessionManagerConfig: JSON.stringify({ SessionManagerEnabled: on }),
  });
  assert.equal(typeof res.RequestId, 'string');
}

async function switchState(pop) {
  const res = await pop.request('DescribeCloudAssistantSettings', {
    RegionId: R(), 'SettingType.1': 'SessionManagerConfig',
  });
  assert.equal(typeof res.SessionManagerConfig, 'object', JSON.stringify(res));
  assert.equal(typeof res.SessionManagerConfig.SessionManagerEnabled, 'boolean',
    JSON.stringify(res));
  return res.SessionManagerConfig.SessionManagerEnabled;
}

// Every SecurityToken handed out, to look for in the logs at the end.
const tokens = new Set();

async function startOnce(pop, instanceId, extra = {}) {
  const res = await pop.request('StartTerminalSession', Object.assign({
    RegionId: R(), 'InstanceId.1': instanceId,
  }, extra));
  if (res && res.SecurityToken) tokens.add(res.SecurityToken);
  return res;
}

// The tests below open sessions with one key faster than dialled ones end
// (a Connecting session counts against the key's quota, --sessions-per-key,
// until its agent has dialled back), so startOn waits, bounded, for a slot.
// The quota tests call startOnce.
async function startOn(pop, instanceId, extra = {}) {
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      return await startOnce(pop, instanceId, extra);
    } catch (e) {
      if (e.code !== 'SessionCount.ExceedKeyLimit' || Date.now() > deadline) throw e;
      await c.sleep(250);
    }
  }
}

// The caller's sessions (all of them: the tests make far fewer than 100).
async function sessions(pop, extra = {}) {
  const res = await pop.request('DescribeTerminalSessions', Object.assign({
    RegionId: R(), MaxResults: 100,
  }, extra));
  const list = res.Sessions.Session;
  assert.ok(Array.isArray(list), `Sessions.Session is an array: ${JSON.stringify(res)}`);
  assert.equal(res.NextToken, '', 'one page holds all of them');
  return list;
}

async function sessionById(pop, id) {
  const list = await sessions(pop, { SessionId: id });
  assert.equal(list.length, 1, `one session ${id}: ${JSON.stringify(list)}`);
  return list[0];
}

function expectRefusal(r, status, code) {
  assert.equal(r.status, status, `HTTP status (body ${r.body})`);
  assert.ok(r.json, `a JSON body: ${r.body}`);
  assert.equal(r.json.Code, code, `Code (body ${r.body})`);
  assert.equal(typeof r.json.Message, 'string');
  assert.equal(typeof r.json.RequestId, 'string');
}

// The WebSocketUrl with one query parameter replaced (null removes it).
function withParam(url, name, value) {
  const u = new URL(url);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
}

function lkdAlive() { return pidAlive(c.lkdPid()); }

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await pred();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`${what}: not after ${timeoutMs} ms`);
    await c.sleep(200);
  }
}

// latchkeyd must run with --session-token-ttl 3. test_sdk.sh starts it so,
// but node --test runs the files in name order and 06-persistence.test.js
// restarts it without the option: then it is restarted here (SIGTERM, same
// database and port, PID file updated for test_sdk.sh's cleanup), and the
// test waits until instance A's agent runs a command again.
async function ensureTokenTtl() {
  const pid = c.lkdPid();
  let args = [];
  try {
    args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch (_) { /* not running: started below */ }
  const i = args.indexOf('--session-token-ttl');
  if (i >= 0 && args[i + 1] === String(TOKEN_TTL)) return;
  try { process.kill(pid, 'SIGTERM'); } catch (_) { /* already gone */ }
  await waitFor(() => !pidAlive(pid), 15000, `latchkeyd ${pid} stops on SIGTERM`);
  await c.waitPortClosed(c.env.lkdPort);
  const log = fs.openSync(c.env.lkdLog, 'a');
  const child = spawn(c.env.latchkeyd, ['--db', c.env.db, '--listen',
    `127.0.0.1:${c.env.lkdPort}`, '--region', c.env.region,
    '--session-token-ttl', String(TOKEN_TTL), ...c.env.lkdExtra],
  { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  fs.writeFileSync(c.env.lkdPidfile, `${child.pid}\n`);
  child.unref();
  await waitFor(() => c.portOpen(c.env.lkdPort), 10000, 'latchkeyd listens again');
  const pop = c.popClient();
  await waitFor(async () => {
    const inv = await pop.request('RunCommand', {
      RegionId: R(), Type: 'RunShellScript', 'InstanceId.1': c.env.instanceA,
      CommandContent: 'true',
    });
    const r = await c.waitResult(pop, inv.InvokeId, c.env.instanceA, 30000);
    return r.InvocationStatus === 'Success';
  }, 60000, 'instance A\'s agent runs a command after the restart');
}

function pidAlive(pid) {
  try { process.kill(pid, 0); return true; } catch (_) { return false; }
}

before(ensureTokenTtl);

describe('the session manager switch', () => {
  let pop;
  let v3;

  before(() => {
    pop = c.popClient();
    v3 = c.v3Client();
  });

  it('is off on a fresh database (pop-core and V3 typed model)', async () => {
    assert.equal(await switchState(pop), false);
    const res = await v3.describeCloudAssistantSettings(
      new Ecs.DescribeCloudAssistantSettingsRequest({ regionId: R(), settingType: ['SessionManagerConfig'] }));
    assert.equal(res.statusCode, 200);
    assert.ok(res.body.sessionManagerConfig instanceof
      Ecs.DescribeCloudAssistantSettingsResponseBodySessionManagerConfig, JSON.stringify(res.body));
    assert.equal(res.body.sessionManagerConfig.sessionManagerEnabled, false);
  });

  it('while off, StartTerminalSession is 403 InvalidOperation.SessionManagerDisabled and records nothing',
    async () => {
      const before = (await sessions(pop)).length;
      await c.popRejects(startOn(pop, c.env.instanceA),
        'InvalidOperation.SessionManagerDisabled', 403);
      await c.v3Rejects(v3.startTerminalSession(new Ecs.StartTerminalSessionRequest({
        regionId: R(), instanceId: [c.env.instanceA],
      })), 'InvalidOperation.SessionManagerDisabled', 403);
      assert.equal((await sessions(pop)).length, before);
    });

  it('pop-core ModifyCloudAssistantSettings on → V3 describe true; V3 modify off → pop-core false',
    async () => {
      await setSwitch(pop, true);
      let res = await v3.describeCloudAssistantSettings(
        new Ecs.DescribeCloudAssistantSettingsRequest({ regionId: R(), settingType: ['SessionManagerConfig'] }));
      assert.equal(res.body.sessionManagerConfig.sessionManagerEnabled, true);
      res = await v3.modifyCloudAssistantSettings(new Ecs.ModifyCloudAssistantSettingsRequest({
        regionId: R(), settingType: 'SessionManagerConfig',
        sessionManagerConfig: new Ecs.ModifyCloudAssistantSettingsRequestSessionManagerConfig(
          { sessionManagerEnabled: false }),
      }));
      assert.equal(res.statusCode, 200);
      assert.equal(typeof res.body.requestId, 'string');
      assert.equal(await switchState(pop), false);
      // On again with V3, for the rest of the file.
      await v3.modifyCloudAssistantSettings(new Ecs.ModifyCloudAssistantSettingsRequest({
        regionId: R(), settingType: 'SessionManagerConfig',
        sessionManagerConfig: new Ecs.ModifyCloudAssistantSettingsRequestSessionManagerConfig(
          { sessionManagerEnabled: true }),
      }));
      assert.equal(await switchState(pop), true);
    });

  const badConfigs = [
    ['not JSON', '{SessionManagerEnabled:true'],
    ['a string, not a boolean', '{"SessionManagerEnabled":"false"}'],
    ['a number, not a boolean', '{"SessionManagerEnabled":0}'],
    ['null', '{"SessionManagerEnabled":null}'],
    ['without the field', '{"Enabled":false}'],
    ['an array', '[false]'],
    ['a bare boolean', 'false'],
    ['a duplicated field', '{"SessionManagerEnabled":false,"SessionManagerEnabled":false}'],
  ];
  for (const [what, cfg] of badConfigs) {
    it(`SessionManagerConfig ${what}: 400 InvalidParameter.SessionManagerConfig, the switch unchanged`,
      async () => {
        assert.equal(await switchState(pop), true);
        await c.popRejects(pop.request('ModifyCloudAssistantSettings', {
          RegionId: R(), SettingType: 'SessionManagerConfig', SessionManagerConfig: cfg,
        }), 'InvalidParameter.SessionManagerConfig', 400);
        assert.equal(await switchState(pop), true);
      });
  }

  it('SessionManagerConfig missing: 400, the switch unchanged', async () => {
    const e = await c.popError(pop.request('ModifyCloudAssistantSettings', {
      RegionId: R(), SettingType: 'SessionManagerConfig',
    }));
    assert.equal(e.entry.response.statusCode, 400, e.code);
    assert.match(e.code, /SessionManagerConfig|Missing/);
    assert.equal(await switchState(pop), true);
  });

  for (const type of ['AgentUpgradeConfig', 'sessionmanagerconfig', '', 'SessionManagerConfig ']) {
    it(`ModifyCloudAssistantSettings SettingType ${JSON.stringify(type)}: 400, the switch unchanged`,
      async () => {
        const e = await c.popError(pop.request('ModifyCloudAssistantSettings', {
          RegionId: R(), SettingType: type,
          SessionManagerConfig: '{"SessionManagerEnabled":false}',
        }));
        assert.equal(e.entry.response.statusCode, 400, e.code);
        assert.match(e.code, /SettingType/);
        assert.equal(await switchState(pop), true);
      });
  }

  it('DescribeCloudAssistantSettings: another SettingType or none is 400', async () => {
    await c.popRejects(pop.request('DescribeCloudAssistantSettings', {
      RegionId: R(), 'SettingType.1': 'OssDeliveryConfig',
    }), 'InvalidParameter.SettingType', 400);
    await c.popRejects(pop.request('DescribeCloudAssistantSettings', {
      RegionId: R(), 'SettingType.1': 'SessionManagerConfig', 'SettingType.2': 'Bogus',
    }), 'InvalidParameter.SettingType', 400);
    const e = await c.popError(pop.request('DescribeCloudAssistantSettings', { RegionId: R() }));
    assert.equal(e.entry.response.statusCode, 400, e.code);
  });
});

describe('StartTerminalSession, DescribeTerminalSessions, EndTerminalSession', () => {
  let pop;
  let v3;

  before(async () => {
    pop = c.popClient();
    v3 = c.v3Client();
    await setSwitch(pop, true);
  });

  it('DescribeCloudAssistantStatus: SupportSessionManager true for the 1.4.0 agent', async () => {
    const res = await pop.request('DescribeCloudAssistantStatus', {
      RegionId: R(), 'InstanceId.1': c.env.instanceA,
    });
    const s = res.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0];
    assert.equal(s.CloudAssistantVersion, '1.4.0', JSON.stringify(s));
    assert.equal(s.SupportSessionManager, true, JSON.stringify(s));
    const r3 = await v3.describeCloudAssistantStatus(new Ecs.DescribeCloudAssistantStatusRequest({
      regionId: R(), instanceId: [c.env.instanceA],
    }));
    const s3 = r3.body.instanceCloudAssistantStatusSet.instanceCloudAssistantStatus[0];
    assert.equal(s3.supportSessionManager, true);
  });

  it('pop-core: SessionId, SecurityToken, WebSocketUrl; listed Pending with the caller as principal',
    async () => {
      const res = await startOn(pop, c.env.instanceA);
      assert.match(res.SessionId, /^s-[0-9a-z]{20}$/);
      assert.match(res.SecurityToken, /^[A-Za-z0-9_-]{43}$/);
      const u = new URL(res.WebSocketUrl);
      assert.equal(u.protocol, 'ws:');
      assert.equal(u.host, `127.0.0.1:${c.env.port}`);
      assert.equal(u.pathname, '/session');
      assert.equal(u.searchParams.get('sessionId'), res.SessionId);
      assert.equal(u.searchParams.get('token'), res.SecurityToken);
      const s = await sessionById(pop, res.SessionId);
      assert.equal(s.PortNumber, 22);
      assert.equal(s.TargetServer, '127.0.0.1');
      assert.equal(s.PrincipalId, c.env.akId);
      assert.match(s.CreationTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.ok(Array.isArray(s.Connections.Connection), JSON.stringify(s));
      assert.equal(s.Connections.Connection.length, 1);
      assert.equal(s.Connections.Connection[0].InstanceId, c.env.instanceA);
      assert.equal(s.Connections.Connection[0].Status, 'Pending');
      // By InstanceId too; and not under another instance.
      const byA = await sessions(pop, { InstanceId: c.env.instanceA });
      assert.ok(byA.some((x) => x.SessionId === res.SessionId));
      const byB = await sessions(pop, { InstanceId: c.env.instanceB });
      assert.ok(!byB.some((x) => x.SessionId === res.SessionId));
      // The token itself is never listed.
      assert.ok(!JSON.stringify(await sessions(pop)).includes(res.SecurityToken));
    });

  it('V3: the typed models parse (StartTerminalSession, DescribeTerminalSessions arrays)', async () => {
    const res = await v3.startTerminalSession(new Ecs.StartTerminalSessionRequest({
      regionId: R(), instanceId: [c.env.instanceA], portNumber: 22,
    }));
    assert.equal(res.statusCode, 200);
    assert.ok(res.body instanceof Ecs.StartTerminalSessionResponseBody);
    assert.match(res.body.sessionId, /^s-/);
    assert.equal(typeof res.body.securityToken, 'string');
    assert.match(res.body.webSocketUrl, /^ws:\/\/127\.0\.0\.1:\d+\/session\?/);
    assert.equal(typeof res.body.requestId, 'string');
    const d = await v3.describeTerminalSessions(new Ecs.DescribeTerminalSessionsRequest({
      regionId: R(), sessionId: res.body.sessionId,
    }));
    assert.equal(d.statusCode, 200);
    const list = d.body.sessions.session;
    assert.ok(Array.isArray(list), JSON.stringify(d.body));
    assert.equal(list.length, 1);
    assert.equal(list[0].sessionId, res.body.sessionId);
    assert.equal(list[0].portNumber, 22);
    const conns = list[0].connections.connection;
    assert.ok(Array.isArray(conns), JSON.stringify(list[0]));
    assert.equal(conns[0].instanceId, c.env.instanceA);
    assert.equal(conns[0].status, 'Pending');
    const e = await v3.endTerminalSession(new Ecs.EndTerminalSessionRequest({
      regionId: R(), sessionId: res.body.sessionId,
    }));
    assert.equal(e.statusCode, 200);
  });

  it('DescribeTerminalSessions pages with MaxResults and NextToken', async () => {
    await startOn(pop, c.env.instanceA);
    await startOn(pop, c.env.instanceA);
    const all = await sessions(pop);
    assert.ok(all.length >= 2);
    const p1 = await pop.request('DescribeTerminalSessions', { RegionId: R(), MaxResults: 1 });
    assert.equal(p1.Sessions.Session.length, 1);
    assert.notEqual(p1.NextToken, '');
    const p2 = await pop.request('DescribeTerminalSessions', {
      RegionId: R(), MaxResults: 1, NextToken: p1.NextToken,
    });
    assert.equal(p2.Sessions.Session.length, 1);
    assert.notEqual(p2.Sessions.Session[0].SessionId, p1.Sessions.Session[0].SessionId);
    await c.popRejects(pop.request('DescribeTerminalSessions', {
      RegionId: R(), NextToken: 'x1',
    }), 'InvalidParameter.NextToken', 400);
    for (const m of ['0', '101', 'ten']) {
      const e = await c.popError(pop.request('DescribeTerminalSessions', { RegionId: R(), MaxResults: m }));
      assert.equal(e.entry.response.statusCode, 400, `MaxResults ${m}: ${e.code}`);
    }
  });

  it('EndTerminalSession of a Pending session: its URL can no longer be used', async () => {
    const res = await startOn(pop, c.env.instanceA);
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: res.SessionId });
    const s = await sessionById(pop, res.SessionId);
    assert.equal(s.Connections.Connection[0].Status, 'Closed', JSON.stringify(s));
    assert.match(s.Connections.Connection[0].EndTime, /Z$/);
    const r = await wsDial(res.WebSocketUrl);
    if (r.ws) r.ws.destroy();
    expectRefusal(r, 401, 'InvalidSecurityToken.Used');
    // Ending it again is harmless; an unknown id is 404.
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: res.SessionId });
    await c.popRejects(pop.request('EndTerminalSession', {
      RegionId: R(), SessionId: 's-doesnotexist0000000',
    }), 'InvalidSessionId.NotFound', 404);
    const e = await c.popError(pop.request('EndTerminalSession', { RegionId: R() }));
    assert.equal(e.entry.response.statusCode, 400, e.code);
  });

  it('another access key neither sees nor ends the session', async () => {
    const res = await startOn(pop, c.env.instanceA);
    const k = c.createKey('--description', 'sessions-other');
    const other = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    assert.ok(!(await sessions(other)).some((s) => s.SessionId === res.SessionId));
    await c.popRejects(other.request('EndTerminalSession', {
      RegionId: R(), SessionId: res.SessionId,
    }), 'InvalidSessionId.NotFound', 404);
    const s = await sessionById(pop, res.SessionId);
    assert.equal(s.Connections.Connection[0].Status, 'Pending');
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: res.SessionId });
  });
});

describe('hostile StartTerminalSession parameters: a clear error, nothing recorded', () => {
  let pop;
  let before0;

  before(async () => {
    pop = c.popClient();
    await setSwitch(pop, true);
    before0 = (await sessions(pop)).length;
  });

  const A = () => c.env.instanceA;
  const cases = [
    ['PortNumber 0', () => ({ 'InstanceId.1': A(), PortNumber: '0' }), 400, /InvalidParameter/],
    ['PortNumber 65536', () => ({ 'InstanceId.1': A(), PortNumber: '65536' }), 400, /InvalidParameter/],
    ['PortNumber "22abc"', () => ({ 'InstanceId.1': A(), PortNumber: '22abc' }), 400, /InvalidParameter/],
    ['PortNumber "-1"', () => ({ 'InstanceId.1': A(), PortNumber: '-1' }), 400, /InvalidParameter/],
    ['PortNumber " 22"', () => ({ 'InstanceId.1': A(), PortNumber: ' 22' }), 400, /InvalidParameter/],
    ['PortNumber "0x16"', () => ({ 'InstanceId.1': A(), PortNumber: '0x16' }), 400, /InvalidParameter/],
    ['PortNumber 2^64+22', () => ({ 'InstanceId.1': A(), PortNumber: '18446744073709551638' }), 400,
      /InvalidParameter/],
    ['PortNumber 2222, not in the agent\'s --session-ports',
      () => ({ 'InstanceId.1': A(), PortNumber: '2222' }), 403, /^InvalidPortNumber\.NotAllowed$/],
    ['InstanceId.1 missing', () => ({}), 400, /^MissingParam\.InstanceId$/],
    ['InstanceId (not .1) only', () => ({ InstanceId: A() }), 400, /^MissingParam\.InstanceId$/],
    ['InstanceId.1 unknown', () => ({ 'InstanceId.1': 'i-doesnotexist0000000' }), 404,
      /^InvalidInstance\.NotFound$/],
    ['InstanceId.1 junk', () => ({ 'InstanceId.1': '../../etc/passwd;$(id)' }), 404,
      /^InvalidInstance\.NotFound$/],
    ['InstanceId.1 empty', () => ({ 'InstanceId.1': '' }), [400, 404], /InvalidInstance|InvalidParameter|Missing/],
    ['CommandLine given', () => ({ 'InstanceId.1': A(), CommandLine: 'id' }), 400,
      /^InvalidParameter\.CommandLine$/],
    ['TargetServer 10.0.0.1', () => ({ 'InstanceId.1': A(), TargetServer: '10.0.0.1' }), 400,
      /^InvalidParameter\.TargetServer$/],
    ['TargetServer 127.0.0.2', () => ({ 'InstanceId.1': A(), TargetServer: '127.0.0.2' }), 400,
      /^InvalidParameter\.TargetServer$/],
    ['TargetServer 169.254.169.254', () => ({ 'InstanceId.1': A(), TargetServer: '169.254.169.254' }), 400,
      /^InvalidParameter\.TargetServer$/],
    ['Username with a newline', () => ({ 'InstanceId.1': A(), Username: 'root\nx' }), 400,
      /^InvalidParameter\.Username$/],
    ['Username of 300 bytes', () => ({ 'InstanceId.1': A(), Username: 'u'.repeat(300) }), 400,
      /^InvalidParameter\.Username$/],
  ];
  for (const [what, params, status, code] of cases) {
    it(what, async () => {
      const e = await c.popError(pop.request('StartTerminalSession',
        Object.assign({ RegionId: R() }, params())));
      assert.match(e.code, code, `code (message: ${e.message})`);
      assert.ok([].concat(status).includes(e.entry.response.statusCode),
        `HTTP status ${e.entry.response.statusCode} for ${e.code}, want ${status}`);
      assert.equal(typeof e.data.Message, 'string');
    });
  }
  it('after all of them the caller\'s session count is unchanged', async () => {
    assert.equal((await sessions(pop)).length, before0);
  });
});

describe('policy', () => {
  let admin;
  let count0;

  before(async () => {
    admin = c.popClient();
    await setSwitch(admin, true);
    count0 = (await sessions(admin)).length;
  });

  it('a key limited to instance B cannot StartTerminalSession on A (403 Forbidden.RAM, pop-core and V3)',
    async () => {
      const k = c.createKey('--instances', c.env.instanceB);
      const pop = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
      const v3 = c.v3Client({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
      await c.popRejects(startOn(pop, c.env.instanceA), 'Forbidden.RAM', 403);
      await c.v3Rejects(v3.startTerminalSession(new Ecs.StartTerminalSessionRequest({
        regionId: R(), instanceId: [c.env.instanceA],
      })), 'Forbidden.RAM', 403);
      assert.equal((await sessions(pop)).length, 0, 'the limited key has no session');
      // Its own instance is allowed (the policy is not simply "deny all").
      const ok = await startOn(pop, c.env.instanceB);
      assert.match(ok.SessionId, /^s-/);
      await pop.request('EndTerminalSession', { RegionId: R(), SessionId: ok.SessionId });
      assert.equal((await sessions(admin)).length, count0, 'nothing recorded for the admin either');
    });

  it('a key whose actions exclude StartTerminalSession gets 403 Forbidden.RAM', async () => {
    const k = c.createKey('--actions', 'DescribeTerminalSessions,DescribeCloudAssistantStatus');
    const pop = c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
    await c.popRejects(startOn(pop, c.env.instanceA), 'Forbidden.RAM', 403);
    await c.popRejects(pop.request('ModifyCloudAssistantSettings', {
      RegionId: R(), SettingType: 'SessionManagerConfig',
      SessionManagerConfig: '{"SessionManagerEnabled":false}',
    }), 'Forbidden.RAM', 403);
    assert.equal(await switchState(admin), true, 'the switch was not turned off');
    assert.equal((await sessions(pop)).length, 0);
    assert.equal((await sessions(admin)).length, count0);
  });
});

describe('the WebSocketUrl', () => {
  let pop;
  let port22;

  before(async () => {
    pop = c.popClient();
    await setSwitch(pop, true);
    port22 = await c.portOpen(22);
  });

  it('first dial: 101 with the right Sec-WebSocket-Accept; the agent dials back', async () => {
    const res = await startOn(pop, c.env.instanceA);
    const r = await wsDial(res.WebSocketUrl);
    assert.equal(r.status, 101, `status (body ${r.body})`);
    assert.equal(r.headers['sec-websocket-accept'], wsAccept(r.key));
    assert.equal(String(r.headers.upgrade).toLowerCase(), 'websocket');
    // The session reaches its agent (Connecting → Connected or already
    // Closed): a session that never got an agent would be Failed with
    // 4004 after 15 s.
    if (!port22) {
      const f = await r.ws.closeFrame(20000);
      assert.ok(f, `a close frame (ended: ${r.ws.ended}, error: ${r.ws.error})`);
      assert.equal(f.code, CLOSE.portRefused, `close code (reason ${f.reason})`);
      assert.match(f.reason, /127\.0\.0\.1:22/);
      // A well-behaved client answers the close; the server then ends the
      // TCP connection promptly.
      await r.ws.send(frame(8, closePayload(f.code)));
      assert.ok(await r.ws.waitEnd(3000), 'the server closed the connection after the close handshake');
      const s = await waitFor(async () => {
        const x = await sessionById(pop, res.SessionId);
        return x.Connections.Connection[0].Status === 'Closed' ? x : null;
      }, 10000, 'the session is recorded Closed');
      const conn = s.Connections.Connection[0];
      assert.match(conn.ClosedReason, /4002/, JSON.stringify(s));
      assert.match(conn.StartTime, /Z$/);
      assert.match(conn.EndTime, /Z$/);
      assert.equal(s.ClientIP, '127.0.0.1');
    } else {
      const s = await waitFor(async () => {
        const x = await sessionById(pop, res.SessionId);
        return x.Connections.Connection[0].Status === 'Connected' ? x : null;
      }, 10000, 'the session is Connected');
      assert.equal(s.ClientIP, '127.0.0.1');
      r.ws.destroy();
    }
    assert.equal(r.ws.badFrame, null);
    // The same URL again: used.
    const again = await wsDial(res.WebSocketUrl);
    if (again.ws) again.ws.destroy();
    expectRefusal(again, 401, 'InvalidSecurityToken.Used');
  });

  it('the same URL twice at once: exactly one 101', async () => {
    const res = await startOn(pop, c.env.instanceA);
    const rs = await Promise.all([wsDial(res.WebSocketUrl), wsDial(res.WebSocketUrl),
      wsDial(res.WebSocketUrl)]);
    const up = rs.filter((r) => r.status === 101);
    for (const r of rs) if (r.ws) r.ws.destroy();
    assert.equal(up.length, 1, `statuses ${rs.map((r) => r.status)}`);
    for (const r of rs.filter((x) => x.status !== 101)) expectRefusal(r, 401, 'InvalidSecurityToken.Used');
  });

  it('session A\'s token with session B\'s id: 401 InvalidSecurityToken, and B is not spent', async () => {
    const a = await startOn(pop, c.env.instanceA);
    const b = await startOn(pop, c.env.instanceA);
    const r = await wsDial(withParam(b.WebSocketUrl, 'token', a.SecurityToken));
    if (r.ws) r.ws.destroy();
    expectRefusal(r, 401, 'InvalidSecurityToken');
    // Both remain usable with their own tokens.
    for (const s of [b, a]) {
      const ok = await wsDial(s.WebSocketUrl);
      assert.equal(ok.status, 101, `own token still works (body ${ok.body})`);
      ok.ws.destroy();
    }
  });

  it('a token for an instance-B session does not open an instance-A session', async () => {
    const a = await startOn(pop, c.env.instanceA);
    const b = await startOn(pop, c.env.instanceB);
    const r = await wsDial(withParam(a.WebSocketUrl, 'token', b.SecurityToken));
    if (r.ws) r.ws.destroy();
    expectRefusal(r, 401, 'InvalidSecurityToken');
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: a.SessionId });
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: b.SessionId });
  });

  it('garbage, missing, empty and oversized tokens and ids: 4xx with a Code', async () => {
    const s = await startOn(pop, c.env.instanceA);
    const tries = [
      ['garbage token', withParam(s.WebSocketUrl, 'token', 'garbage'), 401, 'InvalidSecurityToken'],
      ['token with one character changed', withParam(s.WebSocketUrl, 'token',
        (s.SecurityToken[0] === 'A' ? 'B' : 'A') + s.SecurityToken.slice(1)), 401, 'InvalidSecurityToken'],
      ['empty token', withParam(s.WebSocketUrl, 'token', ''), 401, 'InvalidSecurityToken'],
      ['no token', withParam(s.WebSocketUrl, 'token', null), 400, 'MissingParameter'],
      ['no sessionId', withParam(s.WebSocketUrl, 'sessionId', null), 400, 'MissingParameter'],
      ['no query', s.WebSocketUrl.replace(/\?.*$/, ''), 400, 'MissingParameter'],
      ['a 4 KiB token', withParam(s.WebSocketUrl, 'token', 'A'.repeat(4096)), 400, 'MissingParameter'],
      ['unknown sessionId', withParam(s.WebSocketUrl, 'sessionId', 's-doesnotexist0000000'), 401,
        'InvalidSecurityToken'],
      ['sessionId with SQL', withParam(s.WebSocketUrl, 'sessionId', "' OR 1=1 --"), 401,
        'InvalidSecurityToken'],
    ];
    for (const [what, url, status, code] of tries) {
      const r = await wsDial(url);
      if (r.ws) r.ws.destroy();
      assert.notEqual(r.status, 101, `${what}: not upgraded`);
      assert.equal(r.status, status, `${what}: status (body ${r.body})`);
      assert.ok(r.json && typeof r.json.Code === 'string', `${what}: a JSON Code (body ${r.body})`);
      assert.equal(r.json.Code, code, what);
    }
    // None of that spent the real token.
    const ok = await wsDial(s.WebSocketUrl);
    assert.equal(ok.status, 101, `the real token still works (body ${ok.body})`);
    ok.ws.destroy();
  });

  it('not a WebSocket handshake: 400 (plain GET, bad key, version 8), 405 for POST; token unspent',
    async () => {
      const s = await startOn(pop, c.env.instanceA);
      const u = new URL(s.WebSocketUrl);
      const plain = await c.rawHttp('GET', u.pathname + u.search);
      expectRefusal(plain, 400, 'InvalidParameter.WebSocket');
      const bare = await c.rawHttp('GET', '/session');
      assert.equal(bare.status, 400, bare.body);
      for (const [what, opts] of [
        ['key of 15 bytes', { key: crypto.randomBytes(15).toString('base64') }],
        ['key not base64', { key: '!!!!!!!!!!!!!!!!!!!!!!==' }],
        ['empty key', { key: '' }],
        ['version 8', { headers: { 'Sec-WebSocket-Version': '8' } }],
        ['Upgrade: h2c', { headers: { Upgrade: 'h2c' } }],
      ]) {
        const r = await wsDial(s.WebSocketUrl, opts);
        if (r.ws) r.ws.destroy();
        expectRefusal(r, 400, 'InvalidParameter.WebSocket');
        assert.ok(what);
      }
      const post = await wsDial(s.WebSocketUrl, { method: 'POST' });
      if (post.ws) post.ws.destroy();
      assert.equal(post.status, 405, post.body);
      const ok = await wsDial(s.WebSocketUrl);
      assert.equal(ok.status, 101, `the token was not spent (body ${ok.body})`);
      ok.ws.destroy();
    });

  it(`an expired URL: 401 InvalidSecurityToken.Expired (--session-token-ttl ${TOKEN_TTL})`, async () => {
    const s = await startOn(pop, c.env.instanceA);
    await c.sleep((TOKEN_TTL + 1) * 1000 + 200);
    const r = await wsDial(s.WebSocketUrl);
    if (r.ws) r.ws.destroy();
    expectRefusal(r, 401, 'InvalidSecurityToken.Expired');
  });

  it('the switch turned off after StartTerminalSession: the dial is 403', async () => {
    const s = await startOn(pop, c.env.instanceA);
    await setSwitch(pop, false);
    let r;
    try {
      r = await wsDial(s.WebSocketUrl);
    } finally {
      await setSwitch(pop, true);
    }
    if (r.ws) r.ws.destroy();
    expectRefusal(r, 403, 'InvalidOperation.SessionManagerDisabled');
  });

  it('the agent-side path refuses a client: no credential is 401, a forged one too', async () => {
    const s = await startOn(pop, c.env.instanceA);
    const base = s.WebSocketUrl.replace(/\/session\?.*$/, '');
    const r1 = await wsDial(`${base}/agent/v1/session/${s.SessionId}`);
    if (r1.ws) r1.ws.destroy();
    expectRefusal(r1, 401, 'InvalidCredential');
    const r2 = await wsDial(`${base}/agent/v1/session/${s.SessionId}`, {
      headers: { Authorization: `Bearer ${c.env.instanceA}.forged` },
    });
    if (r2.ws) r2.ws.destroy();
    expectRefusal(r2, 401, 'InvalidCredential');
    const ok = await wsDial(s.WebSocketUrl);
    assert.equal(ok.status, 101, ok.body);
    ok.ws.destroy();
  });
});

describe('hostile frames after a 101', () => {
  let pop;
  let pid;

  before(async () => {
    pop = c.popClient();
    await setSwitch(pop, true);
    pid = c.lkdPid();
  });

  after(() => {
    assert.equal(c.lkdPid(), pid, 'latchkeyd was not restarted meanwhile');
  });

  // Dials a fresh session with the bytes written right behind the request,
  // so that they wait in latchkeyd before the agent dials back: the relay
  // reads them before anything from the agent (whose close 4002 would
  // otherwise come first). Returns the close frame (or null) and whether
  // and when the connection ended.
  async function hostile(bytes, { closeWithin = 10000, endWithin = 10000, headers = {} } = {}) {
    const s = await startOn(pop, c.env.instanceA);
    const t0 = Date.now();
    const r = await wsDial(s.WebSocketUrl, { early: Buffer.concat([].concat(bytes)), headers });
    assert.equal(r.status, 101, r.body);
    const f = await r.ws.closeFrame(closeWithin);
    const ended = await r.ws.waitEnd(endWithin);
    const out = { frame: f, ended, ms: (r.ws.endedAt || Date.now()) - t0, ws: r.ws, sessionId: s.SessionId };
    r.ws.destroy();
    assert.equal(r.ws.badFrame, null);
    return out;
  }

  // A close frame with the code latchkeyd must choose, then the end of the
  // connection (latchkeyd waits at most its 5 s close grace for the
  // client's answer, which these clients never send).
  function assertClosedWith(out, want, what) {
    assert.ok(out.frame, `${what}: a close frame (connection ended: ${out.ended})`);
    assert.equal(out.frame.code, want, `${what}: close code (reason ${out.frame.reason})`);
    assert.ok(out.ended, `${what}: the connection ended (after ${out.ms} ms)`);
  }

  // Errors wslay finds while parsing a frame header (a control frame over
  // 125 bytes or fragmented, a length not in its shortest form): RFC 6455
  // 7.1.7 lets the server close the connection with or without a close
  // frame; latchkeyd drops it without one. Either way, promptly.
  function assertFailed(out, what) {
    if (out.frame) assert.equal(out.frame.code, CLOSE.protocol, `${what}: close code`);
    assert.ok(out.ended, `${what}: the connection ended`);
    assert.ok(out.ms < 8000, `${what}: ended after ${out.ms} ms`);
  }

  // Data messages are streamed (docs/sessions.md, "Data path"): their size
  // costs latchkeyd nothing, so none is refused for it; the ends' text
  // (control) messages of a session that resumes are held whole, and
  // limited to 1 KiB.
  it('a header announcing 2^63 bytes (the length\'s top bit set): close 1002', async () => {
    const f = frame(2, Buffer.alloc(0), { len: 2 ** 52 });
    f[2] |= 0x80;
    const out = await hostile(Buffer.concat([f, crypto.randomBytes(1024)]));
    assertClosedWith(out, CLOSE.protocol, 'top bit');
  });

  it('a session that resumes: a text message over 1 KiB: close 1009', async () => {
    const out = await hostile(frame(1, Buffer.alloc(2048, 'a')),
      { headers: { 'Latchkey-Resume': '1' } });
    assertClosedWith(out, CLOSE.tooBig, 'long text');
  });

  it('a session that resumes: text fragments adding up past 1 KiB: close 1009', async () => {
    const part = Buffer.alloc(600, 'b');
    const out = await hostile([frame(1, part, { fin: false }), frame(0, part)],
      { headers: { 'Latchkey-Resume': '1' } });
    assertClosedWith(out, CLOSE.tooBig, 'fragmented text');
  });

  it('an unmasked client frame: close 1002, the connection ends', async () => {
    const out = await hostile(frame(2, Buffer.from('hello'), { mask: false }));
    assertClosedWith(out, CLOSE.protocol, 'unmasked');
  });

  for (const op of [3, 7, 0xb, 0xf]) {
    it(`reserved opcode ${op}: close 1002`, async () => {
      const out = await hostile(frame(op, Buffer.from('x')));
      assertClosedWith(out, CLOSE.protocol, `opcode ${op}`);
    });
  }

  it('RSV1 set without an extension: close 1002', async () => {
    const out = await hostile(frame(2, Buffer.from('x'), { rsv: 4 }));
    assertClosedWith(out, CLOSE.protocol, 'rsv1');
  });

  it('a ping of 126 bytes (control frames are at most 125): the connection ends', async () => {
    const out = await hostile(frame(9, Buffer.alloc(126, 0x61)));
    assertFailed(out, 'long ping');
  });

  it('a fragmented control frame: the connection ends', async () => {
    const out = await hostile(frame(9, Buffer.from('p'), { fin: false }));
    assertFailed(out, 'fragmented ping');
  });

  it('a 5-byte payload with a 64-bit length field (not the shortest form): the connection ends',
    async () => {
      const f = frame(2, Buffer.from('hello'));
      const head = Buffer.from([f[0], 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5]);
      const out = await hostile(Buffer.concat([head, f.subarray(2)]));
      assertFailed(out, 'long form length');
    });

  it('a close frame with an invalid code (1005): close 1002', async () => {
    const out = await hostile(frame(8, closePayload(1005)));
    assertClosedWith(out, CLOSE.protocol, 'close 1005');
  });

  // (Without resume a client's text is data, passed on like binary.)
  it('a session that resumes: a text message that is not UTF-8: close 1007', async () => {
    const out = await hostile(frame(1, Buffer.from([0x68, 0xc3, 0x28])),
      { headers: { 'Latchkey-Resume': '1' } });
    assertClosedWith(out, 1007, 'bad utf-8');
  });

  it('a continuation with no message begun: close 1002', async () => {
    const out = await hostile(frame(0, Buffer.from('orphan')));
    assertClosedWith(out, CLOSE.protocol, 'orphan continuation');
  });

  it('garbage bytes then a half-closed socket: the connection ends', async () => {
    const s = await startOn(pop, c.env.instanceA);
    const r = await wsDial(s.WebSocketUrl);
    assert.equal(r.status, 101, r.body);
    await r.ws.send(crypto.randomBytes(4096));
    r.ws.socket.end();
    assert.ok(await r.ws.waitEnd(15000), 'the connection ended');
    r.ws.destroy();
  });

  it('a client that vanishes mid-frame: the session is recorded as ended', async () => {
    const s = await startOn(pop, c.env.instanceA);
    const r = await wsDial(s.WebSocketUrl);
    assert.equal(r.status, 101, r.body);
    await r.ws.send(frame(2, crypto.randomBytes(1000)).subarray(0, 500));
    r.ws.destroy();
    await waitFor(async () => {
      const x = await sessionById(pop, s.SessionId);
      return ['Closed', 'Failed'].includes(x.Connections.Connection[0].Status) ? x : null;
    }, 25000, 'the session ended');
  });

  it('a client that hangs up right behind its request: the session does not stay Connecting',
    async () => {
      const s = await startOn(pop, c.env.instanceA);
      const u = new URL(s.WebSocketUrl);
      await new Promise((resolve) => {
        const sock = net.connect(Number(u.port), u.hostname, () => {
          sock.end(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
            'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Key: ${wsKey()}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
          sock.destroy();
          resolve();
        });
        sock.on('error', resolve);
      });
      // Connecting sessions count against the instance's limit of open
      // sessions, so one left Connecting is a leak. The upgrade may still
      // go ahead and the agent dial back (Connected, for a moment) before
      // the relay sees the client gone: wait for a final state.
      const x = await waitFor(async () => {
        const y = await sessionById(pop, s.SessionId);
        const st = y.Connections.Connection[0].Status;
        return st !== 'Connecting' && st !== 'Connected' ? y : null;
      }, 30000, `session ${s.SessionId} ends`);
      assert.ok(['Pending', 'Closed', 'Failed'].includes(x.Connections.Connection[0].Status),
        JSON.stringify(x));
    });

  it('no SecurityToken of this file appears in latchkeyd\'s or the agent\'s log', () => {
    assert.ok(tokens.size > 10, `tokens collected: ${tokens.size}`);
    for (const f of [c.env.lkdLog, path.join(c.env.scratch, 'agent-a.log'),
      path.join(c.env.scratch, 'agent-a.out')]) {
      let text = '';
      try { text = fs.readFileSync(f, 'utf8'); } catch (_) { continue; }
      for (const t of tokens) assert.ok(!text.includes(t), `${f} contains a SecurityToken`);
    }
  });

  it('latchkeyd is alive, the same process, and still answers API calls', async () => {
    assert.ok(lkdAlive(), 'latchkeyd runs');
    assert.equal(c.lkdPid(), pid);
    assert.equal(await switchState(pop), true);
    const res = await startOn(pop, c.env.instanceA);
    const r = await wsDial(res.WebSocketUrl);
    assert.equal(r.status, 101, r.body);
    r.ws.destroy();
  });
});

// A session that reaches a port: an agent of this file's own (instance D),
// registered with a fresh activation and run with --session-ports set to
// an echo server in this process, so the tunnel carries bytes both ways.
describe('a live session (an agent of its own with --session-ports)', () => {
  let pop;
  let echo;
  let echoPort;
  let agent;
  let instanceD;

  before(async () => {
    pop = c.popClient();
    await setSwitch(pop, true);
    echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
    await new Promise((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = echo.address().port;
    const act = JSON.parse(c.admin('activation', 'create', '--count', '1', '--json'));
    const bin = path.join(path.dirname(c.env.latchkeyd), 'latchkey-agent');
    const state = path.join(c.env.scratch, 'agent-d.json');
    const reg = require('node:child_process').spawnSync(bin, ['register', '--server',
      c.env.endpoint, '--activation-id', act.ActivationId, '--activation-code',
      act.ActivationCode, '--state', state], { encoding: 'utf8', timeout: 20000 });
    assert.equal(reg.status, 0, `agent register: ${reg.stderr}`);
    instanceD = JSON.parse(fs.readFileSync(state, 'utf8')).instance_id;
    const out = fs.openSync(path.join(c.env.scratch, 'agent-d.out'), 'a');
    agent = spawn(bin, ['run', '--state', state, '--log', path.join(c.env.scratch, 'agent-d.log'),
      '--foreground', '--session-ports', String(echoPort)],
    { env: Object.assign({}, process.env, { LATCHKEY_ROOT: c.env.root }), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    await waitFor(async () => {
      const res = await pop.request('DescribeCloudAssistantStatus', {
        RegionId: R(), 'InstanceId.1': instanceD,
      });
      const st = res.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0];
      return st && st.CloudAssistantStatus === 'true' && st.SupportSessionManager === true;
    }, 20000, `agent D (${instanceD}) online`);
    // Registration alone makes it online with the default ports; the port
    // is allowed once the running agent has said hello with its list.
    await waitFor(async () => {
      try {
        const x = await startOn(pop, instanceD, { PortNumber: String(echoPort) });
        await pop.request('EndTerminalSession', { RegionId: R(), SessionId: x.SessionId });
        return true;
      } catch (e) {
        if (e.code !== 'InvalidPortNumber.NotAllowed') throw e;
        return false;
      }
    }, 20000, `agent D allows port ${echoPort}`);
  });

  after(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(r, 10000); agent.once('exit', () => { clearTimeout(t); r(); }); });
    }
    if (echo) echo.close();
  });

  async function openLive() {
    const s = await startOn(pop, instanceD, { PortNumber: String(echoPort) });
    const r = await wsDial(s.WebSocketUrl);
    assert.equal(r.status, 101, r.body);
    await waitFor(async () => {
      const x = await sessionById(pop, s.SessionId);
      return x.Connections.Connection[0].Status === 'Connected';
    }, 20000, 'the session is Connected');
    return { s, ws: r.ws };
  }

  it('bytes go through and come back; the record counts them', async () => {
    const { s, ws } = await openLive();
    const data = crypto.randomBytes(100000);
    ws.socket.write(frame(2, data));
    const got = await ws.until(() => {
      const n = dataFrames(ws).reduce((a, f) => a + f.payload.length, 0);
      return n >= data.length ? n : 0;
    }, 10000);
    assert.equal(got, data.length, 'echoed bytes');
    const back = Buffer.concat(dataFrames(ws).map((f) => f.payload));
    assert.ok(back.equals(data), 'the echo is the same bytes');
    await ws.send(frame(8, closePayload(CLOSE.normal)));
    const f = await ws.closeFrame(10000);
    assert.ok(f, 'a close answer');
    assert.ok(await ws.waitEnd(8000), 'the connection ended');
    const x = await waitFor(async () => {
      const y = await sessionById(pop, s.SessionId);
      return y.Connections.Connection[0].Status === 'Closed' ? y : null;
    }, 10000, 'the session is Closed');
    assert.equal(x.BytesFromClient, data.length, JSON.stringify(x));
    assert.equal(x.BytesToClient, data.length, JSON.stringify(x));
  });

  it('EndTerminalSession of a Connected session: close 4003 to the client', async () => {
    const { s, ws } = await openLive();
    await pop.request('EndTerminalSession', { RegionId: R(), SessionId: s.SessionId });
    const f = await ws.closeFrame(10000);
    assert.ok(f, `a close frame (ended: ${ws.ended})`);
    assert.equal(f.code, CLOSE.ended, f.reason);
    ws.destroy();
  });

  // A client that sends pings and never reads: each ping makes wslay queue
  // a pong on the client's side, so latchkeyd must stop reading that
  // client once its own outgoing queue is full, as it does for data
  // (LK_WS_HIGH_WATER), or its memory grows without bound.
  it('a ping flood from a client that never reads: latchkeyd\'s memory stays bounded', async () => {
    const pid = c.lkdPid();
    const rss = () => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8')
      .match(/VmRSS:\s+(\d+)/)[1]) * 1024;
    const { ws } = await openLive();
    ws.socket.pause();
    const burst = Buffer.concat(Array.from({ length: 2000 }, () => frame(9, Buffer.alloc(125, 0x61))));
    const rss0 = rss();
    let sent = 0;
    const deadline = Date.now() + 30000;
    while (sent < 64 * 1024 * 1024 && Date.now() < deadline && !ws.ended) {
      if (!ws.socket.write(burst)) {
        // latchkeyd stopped reading: back-pressure, as it should be.
        const drained = await new Promise((r) => {
          const t = setTimeout(() => r(false), 3000);
          ws.socket.once('drain', () => { clearTimeout(t); r(true); });
        });
        if (!drained) break;
      }
      sent += burst.length;
    }
    await c.sleep(500);
    const grown = rss() - rss0;
    ws.destroy();
    console.log(`# sent ${sent} bytes of pings; latchkeyd grew ${grown} bytes`);
    assert.ok(grown < 48 * 1024 * 1024,
      `latchkeyd grew ${Math.round(grown / 1048576)} MiB for ${Math.round(sent / 1048576)} MiB of pings`);
  });
});

// Fair shares (issue 10): one access key may hold at most --sessions-per-key
// (default 5) open sessions on an instance, inside the instance's cap of 20,
// so a key that starts sessions and never dials them cannot lock the others
// out. The sessions are Pending for --session-token-ttl (3 s here), so each
// hog is started and checked within that window (and retried, bounded, if
// the shared machine was too slow for it).
describe('per-access-key session quota', () => {
  const PER_KEY_DEFAULT = 5; // RELAY_PER_KEY_DEFAULT in server/relay.h
  const QUOTA_CODE = 'SessionCount.ExceedKeyLimit';
  const A = () => c.env.instanceA;
  let admin;

  function perKeyQuota() {
    const args = fs.readFileSync(`/proc/${c.lkdPid()}/cmdline`, 'utf8').split('\0');
    const i = args.indexOf('--sessions-per-key');
    return i >= 0 ? Number(args[i + 1]) : PER_KEY_DEFAULT;
  }

  function freshKey(what) {
    const k = c.createKey('--description', what);
    return c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret });
  }

  async function endAll(pop, list) {
    for (const s of list) await pop.request('EndTerminalSession', { RegionId: R(), SessionId: s.SessionId });
  }

  before(async () => {
    admin = c.popClient();
    await setSwitch(admin, true);
  });

  it('key A holds its quota undialled: its next start is refused, key B starts and dials through',
    { timeout: 90000 }, async () => {
      const q = perKeyQuota();
      const keyA = freshKey('sessions-hog');
      const keyB = freshKey('sessions-other');
      let done = false;
      for (let attempt = 1; attempt <= 3 && !done; attempt++) {
        const t0 = Date.now();
        const held = [];
        for (let i = 0; i < q; i++) held.push(await startOnce(keyA, A()));
        let refused = null;
        let extra = null;
        try { extra = await startOnce(keyA, A()); } catch (e) { refused = e; }
        const bStart = await startOnce(keyB, A()).catch((e) => e);
        const elapsed = Date.now() - t0;
        if (elapsed > (TOKEN_TTL - 1) * 1000) {
          // Some of A's URLs may have expired meanwhile: not a fair check.
          await endAll(keyA, held.concat(extra ? [extra] : []));
          if (bStart.SessionId) await endAll(keyB, [bStart]);
          console.log(`# attempt ${attempt} took ${elapsed} ms (> ${TOKEN_TTL - 1} s); again`);
          continue;
        }
        done = true;
        assert.equal(extra, null, `key A's session ${q + 1} was refused (quota ${q})`);
        assert.equal(refused.code, QUOTA_CODE, refused.message);
        assert.equal(refused.entry.response.statusCode, 403);
        assert.match(refused.data.Message, new RegExp(`${q} sessions`));
        assert.match(refused.data.Message, /--sessions-per-key/);
        // Nothing recorded for the refused call.
        const mine = await sessions(keyA);
        assert.equal(mine.length, q, JSON.stringify(mine.map((s) => s.SessionId)));
        // Key B got its session while A held its quota, and dials it.
        assert.match(String(bStart.SessionId), /^s-/, `key B's start: ${bStart.code} ${bStart.message}`);
        const r = await wsDial(bStart.WebSocketUrl);
        assert.equal(r.status, 101, `key B's dial (body ${r.body})`);
        const reached = await waitFor(async () => {
          const x = await sessionById(keyB, bStart.SessionId);
          const st = x.Connections.Connection[0];
          if (st.Status === 'Connected') return st;
          return st.Status === 'Closed' && /4002/.test(st.ClosedReason) ? st : null;
        }, 20000, 'key B\'s session reaches the agent (Connected, or 4002: nothing on port 22)');
        assert.ok(reached);
        r.ws.destroy();
        // Ending one of A's sessions frees a slot for A at once.
        await endAll(keyA, [held[0]]);
        const again = await startOnce(keyA, A());
        assert.match(again.SessionId, /^s-/);
        await endAll(keyA, held.slice(1).concat([again]));
      }
      assert.ok(done, 'three attempts each took longer than the token lifetime');
    });

  it('parallel StartTerminalSession calls of one key never exceed its quota', { timeout: 90000 },
    async () => {
      const q = perKeyQuota();
      const n = 4 * q;
      let done = false;
      for (let attempt = 1; attempt <= 3 && !done; attempt++) {
        const pop = freshKey(`sessions-parallel-${attempt}`);
        const t0 = Date.now();
        const rs = await Promise.allSettled(Array.from({ length: n }, () => startOnce(pop, A())));
        const elapsed = Date.now() - t0;
        const ok = rs.filter((x) => x.status === 'fulfilled').map((x) => x.value);
        const bad = rs.filter((x) => x.status === 'rejected').map((x) => x.reason);
        for (const e of bad) {
          assert.equal(e.code, QUOTA_CODE, e.message);
          assert.equal(e.entry.response.statusCode, 403);
        }
        const mine = await sessions(pop);
        assert.equal(mine.length, ok.length, 'one record per success, none for the refusals');
        await endAll(pop, ok);
        if (elapsed > (TOKEN_TTL - 1) * 1000) {
          // The first URLs may have expired and freed their slots.
          console.log(`# attempt ${attempt} took ${elapsed} ms (> ${TOKEN_TTL - 1} s); again`);
          continue;
        }
        done = true;
        assert.equal(ok.length, q, `${ok.length} of ${n} parallel starts succeeded in ${elapsed} ms, ` +
          `quota ${q}`);
        console.log(`# ${n} parallel starts: ${ok.length} succeeded, ${bad.length} refused, ${elapsed} ms`);
      }
      assert.ok(done, 'three attempts each took longer than the token lifetime');
    });

  it('the instance\'s cap of 20 still holds across keys: SessionCount.ExceedLimit', { timeout: 90000 },
    async () => {
      const q = perKeyQuota();
      const nkeys = Math.ceil(20 / q);
      const keys = Array.from({ length: nkeys + 1 }, (_, i) => freshKey(`sessions-fill-${i}`));
      const B = c.env.instanceB;
      let done = false;
      for (let attempt = 1; attempt <= 3 && !done; attempt++) {
        const t0 = Date.now();
        const held = [];
        let refused = null;
        for (let i = 0; i < nkeys && !refused; i++) {
          for (let j = 0; j < q && !refused; j++) {
            try { held.push([keys[i], await startOnce(keys[i], B)]); } catch (e) { refused = e; }
          }
        }
        let last = null;
        if (!refused) {
          try { last = await startOnce(keys[nkeys], B); held.push([keys[nkeys], last]); } catch (e) { refused = e; }
        }
        const elapsed = Date.now() - t0;
        for (const [pop, s] of held) await endAll(pop, [s]);
        if (elapsed > (TOKEN_TTL - 1) * 1000) {
          console.log(`# attempt ${attempt} took ${elapsed} ms (> ${TOKEN_TTL - 1} s); again`);
          continue;
        }
        done = true;
        assert.ok(refused, `a start beyond 20 on the instance was refused (${held.length} held)`);
        assert.equal(refused.code, 'SessionCount.ExceedLimit', refused.message);
        assert.equal(refused.entry.response.statusCode, 403);
        assert.equal(last, null);
        // Nothing else was open on B: exactly 20 went in, from full quotas.
        assert.equal(held.length, 20, `sessions started before the refusal: ${held.length}`);
      }
      assert.ok(done, 'three attempts each took longer than the token lifetime');
    });

  it('--sessions-per-key out of range or not a number: latchkeyd exits 2 with the range', () => {
    const { spawnSync } = require('node:child_process');
    for (const v of ['0', '21', '-1', '5x', '', ' 5', '0x5', '99999999999999999999']) {
      const r = spawnSync(c.env.latchkeyd, ['--sessions-per-key', v, '--db', '/nonexistent/x.db',
        '--listen', '127.0.0.1:1'], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `--sessions-per-key '${v}': exit ${r.status} (${r.stderr})`);
      assert.match(r.stderr, /--sessions-per-key: 1 to 20/);
    }
  });
});

// ---------------------------------------------------------------------
// Many sessions at once (issue 10): latchkeyd relays every session on one
// thread, so its thread count does not follow the number of sessions.
// Three agents of their own (RELAY_PER_INSTANCE is 20), and the sessions
// spread over several access keys so that a per-key quota does not refuse
// them. The API calls go without keep-alive: with a thread per HTTP
// connection, kept-alive sockets would hold threads of their own.
describe('50 sessions at once: latchkeyd\'s threads stay flat', () => {
  const N = 50;
  const AGENTS = 3;
  const KEYS = 25;
  const noKeepAlive = () => ({ agent: new http.Agent({ keepAlive: false }) });
  const agents = [];
  const instances = [];
  const pops = [];
  let echo;
  let echoPort;

  const threads = () => Number(fs.readFileSync(`/proc/${c.lkdPid()}/status`, 'utf8')
    .match(/Threads:\s+(\d+)/)[1]);

  function startAgent(name, act) {
    const bin = path.join(path.dirname(c.env.latchkeyd), 'latchkey-agent');
    const state = path.join(c.env.scratch, `agent-${name}.json`);
    const reg = require('node:child_process').spawnSync(bin, ['register', '--server',
      c.env.endpoint, '--activation-id', act.ActivationId, '--activation-code',
      act.ActivationCode, '--state', state], { encoding: 'utf8', timeout: 20000 });
    assert.equal(reg.status, 0, `agent ${name} register: ${reg.stderr}`);
    instances.push(JSON.parse(fs.readFileSync(state, 'utf8')).instance_id);
    const out = fs.openSync(path.join(c.env.scratch, `agent-${name}.out`), 'a');
    agents.push(spawn(bin, ['run', '--state', state, '--log',
      path.join(c.env.scratch, `agent-${name}.log`), '--foreground',
      '--session-ports', String(echoPort)],
    { env: Object.assign({}, process.env, { LATCHKEY_ROOT: c.env.root }), stdio: ['ignore', out, out] }));
    fs.closeSync(out);
  }

  before(async () => {
    const pop = c.popClient();
    await setSwitch(pop, true);
    echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
    await new Promise((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = echo.address().port;
    const act = JSON.parse(c.admin('activation', 'create', '--count', String(AGENTS), '--json'));
    for (let i = 0; i < AGENTS; i++) startAgent(`many${i}`, act);
    for (let i = 0; i < KEYS; i++) {
      const k = c.createKey('--description', `many-${i}`);
      pops.push(c.popClient({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret }));
    }
    // Each agent is running and allows the echo port once it said hello.
    for (const inst of instances) {
      await waitFor(async () => {
        try {
          const x = await startOn(pop, inst, { PortNumber: String(echoPort) });
          await pop.request('EndTerminalSession', { RegionId: R(), SessionId: x.SessionId },
            noKeepAlive());
          return true;
        } catch (e) {
          if (e.code !== 'InvalidPortNumber.NotAllowed' && e.code !== 'ClientNotRunning') throw e;
          return false;
        }
      }, 30000, `agent ${inst} allows port ${echoPort}`);
    }
  });

  after(async () => {
    await Promise.all(agents.filter((a) => a.exitCode === null).map((a) => new Promise((r) => {
      const t = setTimeout(r, 10000);
      a.once('exit', () => { clearTimeout(t); r(); });
      a.kill('SIGTERM');
    })));
    if (echo) echo.close();
  });

  it(`${N} sessions open at once: threads flat, all carry data, all recorded Closed`, async () => {
    // The threads of latchkeyd when it is idle, every agent polling.
    await c.sleep(1000);
    const t0 = threads();
    // Start and dial in batches of 10 (the tokens live 3 s), until all
    // N are open at the same time.
    const open = [];
    for (let b = 0; b < N; b += 10) {
      open.push(...await Promise.all(Array.from({ length: Math.min(10, N - b) }, async (_, j) => {
        const i = b + j;
        const pop = pops[i % KEYS];
        const res = await pop.request('StartTerminalSession', {
          RegionId: R(), 'InstanceId.1': instances[i % AGENTS], PortNumber: String(echoPort),
        }, noKeepAlive());
        tokens.add(res.SecurityToken);
        const r = await wsDial(res.WebSocketUrl);
        assert.equal(r.status, 101, `session ${i}: ${r.body}`);
        return { i, pop, id: res.SessionId, ws: r.ws };
      })));
    }
    // Each carries its own bytes through the relay and back.
    const sent = open.map(() => crypto.randomBytes(64 * 1024));
    for (const o of open) o.ws.socket.write(frame(2, sent[o.i]));
    await Promise.all(open.map(async (o) => {
      const got = () => Buffer.concat(dataFrames(o.ws)
        .map((f) => f.payload));
      await o.ws.until(() => got().length >= sent[o.i].length || o.ws.ended, 30000);
      assert.ok(got().equals(sent[o.i]), `session ${o.i} (${o.id}): echoed ${got().length} bytes,` +
        ` ended ${o.ws.ended}, frames ${JSON.stringify(o.ws.frames.filter((f) => f.opcode === 8))}`);
    }));
    // All N are open now. Request threads of the API calls end with their
    // connections; give them a few seconds.
    let t1 = threads();
    for (let k = 0; k < 50 && t1 > t0 + 4; k++) {
      await c.sleep(100);
      t1 = threads();
    }
    console.log(`# latchkeyd threads: ${t0} idle, ${t1} with ${N} open sessions`);
    assert.ok(t1 <= t0 + 4, `latchkeyd has ${t1} threads with ${N} sessions open, ${t0} before`);
    assert.ok(open.every((o) => !o.ws.ended), 'every session is still open');
    // Closed normally by the client; the close answered; recorded Closed.
    await Promise.all(open.map(async (o) => {
      await o.ws.send(frame(8, closePayload(CLOSE.normal, `bye ${o.i}`)));
      const f = await o.ws.closeFrame(15000);
      assert.ok(f, `session ${o.i}: a close answer`);
      assert.equal(f.code, CLOSE.normal, `session ${o.i}: ${f.reason}`);
      o.ws.destroy();
    }));
    await waitFor(async () => {
      for (const o of open) {
        const x = await sessionById(o.pop, o.id);
        const conn = x.Connections.Connection[0];
        if (conn.Status !== 'Closed') return false;
        assert.equal(x.BytesFromClient, sent[o.i].length, JSON.stringify(x));
        assert.equal(x.BytesToClient, sent[o.i].length, JSON.stringify(x));
        assert.match(conn.ClosedReason, /closed normally \(1000\)/, JSON.stringify(x));
      }
      return true;
    }, 20000, `all ${N} sessions recorded Closed`);
    assert.ok(lkdAlive(), 'latchkeyd is alive');
  });

  // The relay's timers and kicks before an agent is attached: an agent that
  // is online but does not dial back (stopped with SIGSTOP) leaves its
  // client waiting RELAY_AGENT_WAIT (15 s), then 4004; EndTerminalSession
  // of a waiting session closes it with 4003 at once. Both recorded Failed.
  it('no dial-back: 4004 after 15 s; EndTerminalSession while waiting: 4003 at once', async () => {
    const agent = agents[AGENTS - 1];
    const inst = instances[AGENTS - 1];
    const pop = pops[0];
    const dial = async () => {
      const res = await pop.request('StartTerminalSession', {
        RegionId: R(), 'InstanceId.1': inst, PortNumber: String(echoPort),
      }, noKeepAlive());
      tokens.add(res.SecurityToken);
      const r = await wsDial(res.WebSocketUrl);
      assert.equal(r.status, 101, r.body);
      return { id: res.SessionId, ws: r.ws, t0: Date.now() };
    };
    const failed = (id, re) => waitFor(async () => {
      const x = await sessionById(pop, id);
      const conn = x.Connections.Connection[0];
      if (conn.Status !== 'Failed') return null;
      assert.match(conn.FailedDetail, re, JSON.stringify(x));
      return x;
    }, 10000, `session ${id} recorded Failed`);
    agent.kill('SIGSTOP');
    try {
      const late = await dial();
      const ended = await dial();
      await pop.request('EndTerminalSession', { RegionId: R(), SessionId: ended.id },
        noKeepAlive());
      const f3 = await ended.ws.closeFrame(5000);
      assert.ok(f3, 'a close frame after EndTerminalSession');
      assert.equal(f3.code, CLOSE.ended, f3.reason);
      await failed(ended.id, /4003/);
      ended.ws.destroy();
      const f4 = await late.ws.closeFrame(25000);
      const waited = Date.now() - late.t0;
      assert.ok(f4, `a close frame after ${waited} ms`);
      assert.equal(f4.code, 4004, f4.reason);
      assert.ok(waited >= 14000 && waited < 25000, `4004 after ${waited} ms, RELAY_AGENT_WAIT is 15 s`);
      await failed(late.id, /4004/);
      late.ws.destroy();
    } finally {
      agent.kill('SIGCONT');
    }
    assert.ok(lkdAlive(), 'latchkeyd is alive');
  });
});
