'use strict';
// Shared helpers for the SDK tests. The environment comes from
// tests/integration/test_sdk.sh, which starts latchkeyd, the agents and a
// real sshd in a scratch root and exports what the tests need (see
// README.md for the list of variables).

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const RPCClient = require('@alicloud/pop-core');
const Ecs = require('@alicloud/ecs20140526');
const $OpenApi = require('@alicloud/openapi-client');
const $dara = require('@darabonba/typescript');

const API_VERSION = '2014-05-26';
const SEND_KEY_NAME = 'ACS-ECS-SendSshPublicKey-linux.sh';
const UNFINISHED = new Set(['Pending', 'Running', 'Stopping', 'Scheduled']);

function need(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new Error(`${name} is not set: run these tests through ` +
      'tests/integration/test_sdk.sh');
  }
  return v;
}

const env = {
  get endpoint() { return need('LK_ENDPOINT'); },
  get port() { return Number(need('LK_PORT')); },
  // The latchkeyd the tests kill and restart: itself, or replica r1 when
  // the suite runs through HAProxy (LK_PORT is then the balancer's).
  get lkdPort() { return Number(process.env.LK_RESTART_PORT || need('LK_PORT')); },
  get lkdExtra() { return (process.env.LK_RESTART_EXTRA || '').split(' ').filter(Boolean); },
  get region() { return process.env.LK_REGION || 'cn-hangzhou'; },
  get akId() { return need('LK_AK_ID'); },
  get akSecret() { return need('LK_AK_SECRET'); },
  get instanceA() { return need('LK_INSTANCE_A'); },
  get instanceB() { return need('LK_INSTANCE_B'); },
  get instanceC() { return need('LK_INSTANCE_C'); },
  get scratch() { return need('LK_T'); },
  get root() { return need('LK_ROOT'); },
  get work() { return need('LK_WORK'); },
  get latchkeyd() { return need('LK_LATCHKEYD'); },
  get db() { return need('LK_DB'); },
  get lkdPidfile() { return need('LK_LKD_PIDFILE'); },
  get lkdLog() { return need('LK_LKD_LOG'); },
  // Every replica's log (LK_LKD_LOGS, colon-separated), or the one.
  get lkdLogs() {
    return (process.env.LK_LKD_LOGS || need('LK_LKD_LOG')).split(':').filter(Boolean);
  },
  get sshdPort() { return Number(need('LK_SSHD_PORT')); },
  get agentBLog() { return need('LK_AGENT_B_LOG'); },
  get agentCPidfile() { return need('LK_AGENT_C_PIDFILE'); },
};

// ---------------------------------------------------------------------
// Clients

// The signature 1.0 client exactly as a user builds it.
function popClient(over = {}) {
  return new RPCClient({
    accessKeyId: over.accessKeyId || env.akId,
    accessKeySecret: over.accessKeySecret || env.akSecret,
    endpoint: env.endpoint,
    apiVersion: API_VERSION,
  });
}

// The generated ECS client (V3 signature, ACS3-HMAC-SHA256, by default).
function v3Client(over = {}) {
  const u = new URL(env.endpoint);
  const config = new $OpenApi.Config({
    accessKeyId: over.accessKeyId || env.akId,
    accessKeySecret: over.accessKeySecret || env.akSecret,
    regionId: env.region,
    endpoint: u.host,
    protocol: u.protocol.replace(':', ''),
  });
  if (over.signatureAlgorithm) config.signatureAlgorithm = over.signatureAlgorithm;
  return new Ecs.default(config);
}

function runtime(headers) {
  const r = new $dara.RuntimeOptions({});
  if (headers) r.extendsParameters = new $dara.ExtendsParameters({ headers });
  return r;
}

// ---------------------------------------------------------------------
// Errors as each SDK exposes them

// pop-core ignores the HTTP status and throws on any Code; the status is
// in err.entry.response.statusCode.
async function popRejects(promise, code, status) {
  let err;
  try {
    const res = await promise;
    assert.fail(`expected ${code}, got success: ${JSON.stringify(res)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(err.code, code, `code (message: ${err.message})`);
  assert.equal(err.data && err.data.Code, code, 'err.data.Code');
  assert.equal(typeof err.data.RequestId, 'string', 'err.data.RequestId');
  assert.equal(typeof err.data.Message, 'string', 'err.data.Message');
  if (status !== undefined) {
    assert.equal(err.entry && err.entry.response.statusCode, status,
      `HTTP status for ${code}`);
  }
  return err;
}

// The error a pop-core request fails with (fails the test on success).
async function popError(promise) {
  try {
    const res = await promise;
    assert.fail(`expected an error, got success: ${JSON.stringify(res)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e.data && e.code, `not an API error: ${e.stack}`);
    return e;
  }
}

// The V3 client throws ClientError (4xx) with statusCode, code and data.
async function v3Rejects(promise, code, status) {
  let err;
  try {
    const res = await promise;
    assert.fail(`expected ${code}, got success: ${JSON.stringify(res && res.body)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(err.code, code, `code (message: ${err.message})`);
  if (status !== undefined) assert.equal(err.statusCode, status, 'statusCode');
  assert.equal(err.data && err.data.Code, code, 'err.data.Code');
  const want = status >= 500 ? 'ServerError' : 'ClientError';
  if (status !== undefined) assert.equal(err.name, want, 'error class');
  return err;
}

// ---------------------------------------------------------------------
// Raw signature 1.0 requests, for the cases no SDK will send

function pctEncode(s) {
  return encodeURIComponent(String(s)).replace(/[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function isoNow(offsetSeconds = 0) {
  return new Date(Date.now() + offsetSeconds * 1000).toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
}

function canonical(params) {
  return Object.keys(params).map((k) => [pctEncode(k), pctEncode(params[k])])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

// Signs params (plus the common ones) for method with secret; returns the
// full parameter map including Signature.
function signV1(method, params, opts = {}) {
  const all = Object.assign({
    Format: 'JSON',
    Version: API_VERSION,
    AccessKeyId: opts.accessKeyId || env.akId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: crypto.randomUUID(),
    Timestamp: isoNow(),
  }, params);
  const sts = `${method}&${pctEncode('/')}&${pctEncode(canonical(all))}`;
  all.Signature = crypto.createHmac('sha1',
    (opts.accessKeySecret || env.akSecret) + '&').update(sts).digest('base64');
  return { params: all, stringToSign: sts };
}

// One HTTP request to latchkeyd; resolves {status, headers, body, json}.
function rawHttp(method, pathAndQuery, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: env.port, method, path: pathAndQuery,
      headers: Object.assign(body !== undefined ?
        { 'content-length': Buffer.byteLength(body) } : {}, headers),
      timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch (_) { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// A V3 (ACS3-HMAC-SHA256) request by hand: POST /?query, empty body.
// Returns {path, headers, canonicalRequest}.
function signV3(action, query, opts = {}) {
  const emptyHash = crypto.createHash('sha256').update('').digest('hex');
  const headers = Object.assign({
    host: opts.host || `127.0.0.1:${env.port}`,
    'x-acs-action': action,
    'x-acs-version': API_VERSION,
    'x-acs-date': isoNow(),
    'x-acs-signature-nonce': crypto.randomUUID(),
    'x-acs-content-sha256': emptyHash,
  }, opts.headers || {});
  const cq = canonical(query);
  const names = Object.keys(headers).map((h) => h.toLowerCase())
    .filter((h) => h === 'host' || h === 'content-type' || h.startsWith('x-acs-')).sort();
  const lower = {};
  for (const h of Object.keys(headers)) lower[h.toLowerCase()] = String(headers[h]).trim();
  const canonHeaders = names.map((h) => `${h}:${lower[h]}\n`).join('');
  const creq = [opts.method || 'POST', '/', cq, canonHeaders, names.join(';'),
    headers['x-acs-content-sha256']].join('\n');
  const sts = 'ACS3-HMAC-SHA256\n' + crypto.createHash('sha256').update(creq).digest('hex');
  const sig = crypto.createHmac('sha256', opts.accessKeySecret || env.akSecret)
    .update(sts).digest('hex');
  headers.Authorization = `ACS3-HMAC-SHA256 Credential=${opts.accessKeyId || env.akId},` +
    `SignedHeaders=${names.join(';')},Signature=${sig}`;
  return { path: cq ? `/?${cq}` : '/', headers, canonicalRequest: creq, signature: sig };
}

function sendV3(signed, method = 'POST') {
  return rawHttp(method, signed.path, { headers: signed.headers, body: '' });
}

function sendV1(method, params) {
  const q = Object.keys(params).map((k) => `${pctEncode(k)}=${pctEncode(params[k])}`)
    .join('&');
  if (method === 'GET') return rawHttp('GET', `/?${q}`);
  return rawHttp('POST', '/', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: q,
  });
}

// ---------------------------------------------------------------------
// The Cloud Assistant flow

function resultsOf(res) {
  return res.Invocation.InvocationResults.InvocationResult;
}

// Polls DescribeInvocationResults (pop-core) until the instance's run is
// finished; returns the last InvocationResult.
async function waitResult(client, invokeId, instanceId, timeoutMs = 30000,
  { method = 'GET', interval = 300 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    const res = await client.request('DescribeInvocationResults', {
      RegionId: env.region, InvokeId: invokeId, InstanceId: instanceId,
      ContentEncoding: 'PlainText',
    }, { method });
    const list = resultsOf(res);
    assert.ok(Array.isArray(list), 'InvocationResult is an array');
    last = list.find((r) => r.InstanceId === instanceId) || list[0];
    if (last && !UNFINISHED.has(last.InvocationStatus)) return last;
    if (Date.now() > deadline) {
      assert.fail(`invocation ${invokeId} on ${instanceId} not finished after ` +
        `${timeoutMs} ms: ${JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

async function waitStatus(client, invokeId, instanceId, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    const res = await client.request('DescribeInvocationResults', {
      RegionId: env.region, InvokeId: invokeId, InstanceId: instanceId,
    });
    last = resultsOf(res)[0];
    if (last && last.InvocationStatus === want) return last;
    if (Date.now() > deadline) {
      assert.fail(`invocation ${invokeId} never ${want}: ${JSON.stringify(last)}`);
    }
    await sleep(200);
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---------------------------------------------------------------------
// Keys and ssh

// A fresh ed25519 key pair; returns {priv, pub (text, one line)}.
function keygen(name) {
  const dir = path.join(env.scratch, 'keys');
  fs.mkdirSync(dir, { recursive: true });
  const priv = path.join(dir, `${name}-${crypto.randomBytes(4).toString('hex')}`);
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C',
    `${name}@sdk-test`, '-f', priv], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ssh-keygen: ${r.stderr}`);
  return { priv, pub: fs.readFileSync(`${priv}.pub`, 'utf8').trim() };
}

// The real ssh client against the test sshd; returns {status, stdout, stderr}.
function sshRun(user, keyFile, ...cmd) {
  const r = spawnSync('ssh', ['-F', '/dev/null', '-p', String(env.sshdPort),
    '-i', keyFile, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${env.scratch}/known_hosts`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', `${user}@127.0.0.1`,
    ...cmd], { encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------
// latchkeyd administration and restarts: the same database, PID file and
// log as the harness's lk_lkd_start in test_sdk.sh (docs/testing.md). On
// PostgreSQL (LK_TEST_DB=postgresql) env.db is the database's URI and the
// master key comes from LATCHKEYD_MASTER_KEY, which the harness exports.

// The last lines of latchkeyd's log, for a failure's message.
function lkdLogTail(lines = 5) {
  try {
    return fs.readFileSync(env.lkdLog, 'utf8').trimEnd().split('\n')
      .slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

// latchkeyd --db DB ARGS...: its stdout; fails the test on a non-zero exit.
function admin(...args) {
  const r = spawnSync(env.latchkeyd, ['--db', env.db, ...args],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `latchkeyd ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function createKey(...policy) {
  const k = JSON.parse(admin('accesskey', 'create', ...policy, '--json'));
  assert.match(k.AccessKeyId, /\S/);
  assert.match(k.AccessKeySecret, /\S/);
  return k;
}

function lkdPid() {
  return Number(fs.readFileSync(env.lkdPidfile, 'utf8').trim());
}

function killLkd9() {
  process.kill(lkdPid(), 'SIGKILL');
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = require('node:net').connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function waitPortClosed(port, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (await portOpen(port)) {
    if (Date.now() > deadline) assert.fail(`port ${port} still open`);
    await sleep(50);
  }
}

// Starts latchkeyd again on the same database and port, appending to its
// log, records its PID where the harness's cleanup finds it, and waits
// until it listens (20 s, as lk_lkd_start); a failure says what the log
// ended with.
async function startLkd() {
  const log = fs.openSync(env.lkdLog, 'a');
  // As lib.sh's lk_lkd_start: no machine configuration, no metrics port.
  const child = spawn(env.latchkeyd, ['--db', env.db, '--listen',
    `127.0.0.1:${env.lkdPort}`, '--region', env.region, '--config', '/dev/null',
    '--metrics-listen', 'off', ...env.lkdExtra],
  { detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  fs.writeFileSync(env.lkdPidfile, `${child.pid}\n`);
  child.unref();
  const deadline = Date.now() + 20000;
  while (!(await portOpen(env.lkdPort))) {
    if (child.exitCode !== null) {
      assert.fail(`latchkeyd exited ${child.exitCode} before it listened; ` +
        `last lines of ${env.lkdLog}:\n${lkdLogTail()}`);
    }
    if (Date.now() > deadline) {
      assert.fail(`latchkeyd did not listen again in 20 s; last lines of ` +
        `${env.lkdLog}:\n${lkdLogTail()}`);
    }
    await sleep(50);
  }
  return child.pid;
}

module.exports = {
  API_VERSION, SEND_KEY_NAME, UNFINISHED, env, popClient, v3Client, runtime,
  popRejects, popError, v3Rejects, pctEncode, isoNow, canonical, signV1, sendV1, signV3, sendV3, rawHttp,
  resultsOf, waitResult, waitStatus, sleep, keygen, sshRun, admin, createKey,
  lkdPid, lkdLogTail, killLkd9, startLkd, waitPortClosed, portOpen, Ecs,
};
