/*
 * latchkey console: a small single-page app over latchkeyd's
 * /console/api/ endpoints. Every value from the server is hostile data:
 * it is put into the page with textContent (through el()), never as HTML.
 * Every action goes through /console/api/call, so results and errors
 * (Code, Message) are exactly the API's.
 */
'use strict';

const state = { csrf: '', who: null, timers: [], instances: null, term: null };
const FINISHED = ['Success', 'Failed', 'Stopped', 'Timeout', 'Error', 'Cancelled', 'PartialFailed', 'Finished', 'Terminated'];
const PLUGIN_INSTALL = 'acs-plugin-manager -e -P config_ecs_instance_connect --params --install';
const SEND_KEY = 'ACS-ECS-SendSshPublicKey-linux.sh';

/* el('td', {class: 'x'}, 'text', child...): strings become text nodes. */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
const $ = (id) => document.getElementById(id);
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function badge(s) {
  return el('span', { class: 'badge s-' + String(s).replace(/[^A-Za-z]/g, '') }, s);
}

async function post(path, body, withCsrf) {
  const headers = { 'Content-Type': 'application/json' };
  if (withCsrf) headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body),
      credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    return { ok: false, status: 0, body: { Code: 'NetworkError', Message: 'latchkeyd cannot be reached.' } };
  }
  let data = {};
  try { data = await res.json(); } catch (e) { data = { Code: 'BadResponse', Message: 'The answer is not JSON.' }; }
  return { ok: res.ok, status: res.status, body: data };
}

/* One API action; a lost session sends the user back to sign-in. */
async function api(action, params) {
  const r = await post('api/call', { Action: action, Params: params || {} }, true);
  if (r.status === 401 && r.body.Code === 'NotSignedIn') {
    showSignin('Your session has ended; sign in again.');
    throw new Error('signed out');
  }
  return r;
}

function errText(body) {
  return (body.Code ? body.Code + ': ' : '') + (body.Message || 'failed');
}

/* Shows msg under the field whose input has id; '' clears it. */
function fieldError(id, msg) {
  const input = $(id), out = $(id + '-error');
  if (out) out.textContent = msg || '';
  if (input) input.setAttribute('aria-invalid', msg ? 'true' : 'false');
}

function stopTimers() {
  for (const t of state.timers) clearTimeout(t);
  state.timers = [];
  if (state.term) { state.term.close(); state.term = null; }
  $('view').classList.remove('term-view');
}

/* ------------------------------------------------------------------ */
/* Sign-in and sign-out */

function showSignin(msg) {
  stopTimers();
  state.csrf = '';
  state.who = null;
  $('app').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('signin-view').hidden = false;
  $('signin-error').textContent = msg || '';
  closePanel();
}

function showApp(who) {
  state.who = who;
  state.csrf = who.CsrfToken;
  $('signin-view').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  $('who').textContent = (who.Kind === 'operator' ? 'Operator ' : 'AccessKey ') + who.Principal;
  for (const e of document.querySelectorAll('[data-operator-only]')) e.hidden = who.Kind !== 'operator';
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/instances';
  else route();
}

function signinKind() {
  return document.querySelector('input[name=kind]:checked').value;
}

async function signin(ev) {
  ev.preventDefault();
  const op = signinKind() === 'operator';
  const ids = op ? ['op-name', 'op-password'] : ['ak-id', 'ak-secret'];
  const names = op ? ['Operator', 'Password'] : ['AccessKeyId', 'AccessKeySecret'];
  const body = {};
  let bad = false;
  ids.forEach((id, i) => {
    const v = $(id).value;
    fieldError(id, v ? '' : 'Required.');
    if (!v) bad = true;
    body[names[i]] = op || i === 1 ? v : v.trim();
  });
  $('signin-error').textContent = '';
  if (bad) return;
  $('signin-submit').disabled = true;
  const r = await post('api/signin', body, false);
  $('signin-submit').disabled = false;
  if (r.ok) {
    $(ids[1]).value = '';
    showApp(r.body);
    return;
  }
  const at = names.indexOf(r.body.Field);
  if (at >= 0) fieldError(ids[at], r.body.Message || errText(r.body));
  else $('signin-error').textContent = errText(r.body);
}

async function signout() {
  await post('api/signout', {}, true);
  location.hash = '';
  showSignin('You have signed out.');
}

/* ------------------------------------------------------------------ */
/* Routing */

function setNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function view(title) {
  const v = $('view');
  clear(v);
  v.append(el('h1', { id: 'view-title' }, title));
  document.title = title + ' - latchkey console';
  return v;
}

function route() {
  if (!state.who) return;
  stopTimers();
  closePanel();
  const h = location.hash.replace(/^#\/?/, '').split('/');
  try {
    if (h[0] === 'commands') { setNav('commands'); return pageCommands(h[1] === 'mine'); }
    if (h[0] === 'invocations') { setNav('invocations'); return pageInvocations(); }
    if (h[0] === 'invocation' && h[1]) { setNav('invocations'); return pageInvocation(decodeURIComponent(h[1])); }
    if (h[0] === 'settings') { setNav('settings'); return pageSettings(); }
    if (h[0] === 'audit') { setNav('audit'); return pageAudit(); }
    if (h[0] === 'activations') { setNav('activations'); return pageActivations(); }
    if (h[0] === 'accesskeys') { setNav('accesskeys'); return pageAccessKeys(); }
    if (h[0] === 'sessions') { setNav('sessions'); return pageSessions(); }
    if (h[0] === 'instance' && h[1]) { setNav('instances'); return pageInstance(decodeURIComponent(h[1])); }
    if (h[0] === 'replay' && h[1]) { setNav('instances'); return pageReplay(decodeURIComponent(h[1])); }
    if (h[0] === 'terminal' && h[1] && h[2]) {
      setNav('instances');
      return pageTerminal(decodeURIComponent(h[1]), decodeURIComponent(h[2]));
    }
    setNav('instances');
    return pageInstances();
  } catch (e) { /* signed out */ }
}

/* All pages of a list action (NextToken), up to limit items. */
async function listAll(action, params, pick, limit) {
  let items = [], token = '';
  for (let i = 0; i < 20; i++) {
    const p = Object.assign({ MaxResults: 50 }, params);
    if (token) p.NextToken = token;
    const r = await api(action, p);
    if (!r.ok) return { error: r.body };
    items = items.concat(pick(r.body) || []);
    token = r.body.NextToken || '';
    if (!token || items.length >= (limit || 1000)) break;
  }
  return { items };
}

async function loadInstances() {
  const r = await listAll('DescribeInstances', {}, (b) => b.Instances && b.Instances.Instance);
  if (r.error) return r;
  const st = await listAll('DescribeCloudAssistantStatus', {},
    (b) => b.InstanceCloudAssistantStatusSet && b.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus);
  const byId = {};
  for (const s of st.items || []) byId[s.InstanceId] = s;
  for (const i of r.items) i._agent = byId[i.InstanceId] || {};
  state.instances = r.items;
  return r;
}

function addresses(inst) {
  const a = (inst.VpcAttributes && inst.VpcAttributes.PrivateIpAddress &&
    inst.VpcAttributes.PrivateIpAddress.IpAddress) || [];
  return a.join(', ');
}

/* An Instance's Tags.Tag[] as [{TagKey, TagValue}] (Instances[].Tags[] too). */
function tagsOf(obj) {
  const t = obj && obj.Tags;
  return (Array.isArray(t) ? t : (t && t.Tag)) || [];
}

function tagText(tags) {
  return tags.map((t) => t.TagKey + '=' + t.TagValue).join(', ');
}

function allows(action) {
  return !!(state.who && state.who.Allows && state.who.Allows[action]);
}

function errorBox(body) {
  return el('p', { class: 'field-error', role: 'alert' }, errText(body));
}

/* ------------------------------------------------------------------ */
/* Instances */

/*
 * A filter box over items ({ el, search }): hides those whose search text
 * lacks what is typed, and applies at once what was typed while the list
 * was still loading (the box is on the page before the list arrives).
 * onCount(shown) when given.
 */
function bindFilter(input, items, onCount) {
  const apply = () => {
    const q = input.value.trim().toLowerCase();
    let n = 0;
    for (const it of items) { it.el.hidden = q !== '' && !it.search.includes(q); if (!it.el.hidden) n++; }
    if (onCount) onCount(n);
  };
  input.addEventListener('input', apply);
  if (input.value.trim() !== '') apply();
}

async function pageInstances() {
  const v = view('Instances');
  const filter = el('input', { id: 'instance-filter', type: 'search', placeholder: 'ID, name, address or tag' });
  v.append(el('div', { class: 'toolbar' },
    el('div', { class: 'field grow' }, el('label', { for: 'instance-filter' }, 'Filter instances'), filter),
    el('button', { type: 'button', class: 'secondary', on: { click: route } }, 'Refresh')));
  const status = el('p', { class: 'status muted', 'aria-live': 'polite' }, 'Loading…');
  v.append(status);
  const r = await loadInstances();
  if (r.error) { status.replaceWith(errorBox(r.error)); return; }
  const tbody = el('tbody');
  const table = el('table', { 'aria-labelledby': 'view-title' },
    el('thead', {}, el('tr', {}, ['Instance ID', 'Name', 'Addresses', 'Agent version', 'State', 'Last heartbeat', 'Tags'].map((h) => el('th', { scope: 'col' }, h)))),
    tbody);
  const rows = r.items.map((i) => {
    const online = i._agent.CloudAssistantStatus === 'true';
    const tr = el('tr', {},
      el('td', { class: 'mono' }, el('a', { href: '#/instance/' + encodeURIComponent(i.InstanceId) }, i.InstanceId)),
      el('td', { class: 'wrap' }, i.InstanceName),
      el('td', { class: 'mono' }, addresses(i)),
      el('td', {}, i._agent.CloudAssistantVersion || ''),
      el('td', {}, badge(online ? 'online' : 'offline')),
      el('td', {}, i._agent.LastHeartbeatTime || ''),
      el('td', { class: 'tags' }, tagsOf(i).map((t) => el('span', { class: 'tag' }, t.TagKey + '=' + t.TagValue))));
    tr.dataset.search = [i.InstanceId, i.InstanceName, i.HostName, addresses(i), tagText(tagsOf(i))].join(' ').toLowerCase();
    tbody.append(tr);
    return tr;
  });
  status.textContent = rows.length + ' instance' + (rows.length === 1 ? '' : 's');
  v.append(rows.length ? table : el('p', { class: 'empty' },
    'No instance yet. Register a server with latchkey-agent register and an activation code.'));
  bindFilter(filter, rows.map((tr) => ({ el: tr, search: tr.dataset.search })),
    (n) => { status.textContent = n + ' of ' + rows.length + ' shown'; });
}

/* One instance: what its agent reported, and sshd's host keys with their
   SHA256 fingerprints (DescribeInstanceHostKeys), as ssh will check them. */
async function pageInstance(id) {
  const v = view('Instance ' + id);
  const status = el('p', { class: 'status muted', 'aria-live': 'polite' }, 'Loading…');
  v.append(el('p', {}, el('a', { href: '#/instances' }, '← All instances')), status);
  const [ir, st, hk] = await Promise.all([
    api('DescribeInstances', { InstanceIds: JSON.stringify([id]) }),
    api('DescribeCloudAssistantStatus', { 'InstanceId.1': id }),
    api('DescribeInstanceHostKeys', { InstanceId: id }),
  ]);
  if (!ir.ok) { status.replaceWith(errorBox(ir.body)); return; }
  const inst = ir.body.Instances && ir.body.Instances.Instance && ir.body.Instances.Instance[0];
  if (!inst) { status.replaceWith(errorBox({ Code: 'InvalidInstance.NotFound', Message: 'No instance ' + id + ' is visible to you.' })); return; }
  const agent = (st.ok && st.body.InstanceCloudAssistantStatusSet &&
    st.body.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus[0]) || {};
  const online = agent.CloudAssistantStatus === 'true';
  status.remove();
  const dl = el('dl', { class: 'facts', id: 'instance-facts' });
  for (const [k, val] of [['Name', inst.InstanceName], ['Host name', inst.HostName], ['Addresses', addresses(inst)],
    ['Operating system', inst.OSName], ['Agent version', agent.CloudAssistantVersion || ''],
    ['State', badge(online ? 'online' : 'offline')], ['Last heartbeat', agent.LastHeartbeatTime || '']]) {
    dl.append(el('dt', {}, k), el('dd', { class: k === 'Addresses' ? 'mono' : '' }, val || '—'));
  }
  v.append(dl, tagSection(id, tagsOf(inst)), manageInstance(id, inst), connectForm(id, online), sendFileSection(id),
    await shellSessions(id));
  v.append(el('h2', { id: 'hostkeys-title' }, 'SSH host keys'));
  if (!hk.ok) { v.append(errorBox(hk.body)); return; }
  const keys = (hk.body.HostKeys && hk.body.HostKeys.HostKey) || [];
  if (!keys.length) {
    v.append(el('p', { class: 'empty', id: 'hostkeys-none' },
      'The agent has not reported sshd\'s host keys (agents from 1.3.0 do, when sshd -T works on the server). ' +
      'ssh cannot check this server\'s key through latchkey until it does.'));
    return;
  }
  v.append(el('p', {}, 'The keys sshd uses on this server, as its agent reported them. ssh checks them, with no prompt, ' +
    'through KnownHostsCommand latchkey known-hosts %H %f; compare a fingerprint ssh shows with these.'));
  const tbody = el('tbody');
  for (const k of keys) {
    tbody.append(el('tr', {},
      el('td', { class: 'mono' }, k.KeyType),
      el('td', { class: 'mono fingerprint' }, k.Fingerprint),
      el('td', {}, k.FirstSeenTime),
      el('td', {}, k.LastSeenTime)));
  }
  v.append(el('table', { id: 'hostkeys', 'aria-labelledby': 'hostkeys-title' },
    el('thead', {}, el('tr', {}, ['Type', 'Fingerprint', 'First seen', 'Last seen'].map((h) => el('th', { scope: 'col' }, h)))),
    tbody));
  v.append(el('h3', { id: 'known-hosts-title' }, 'known_hosts lines'),
    el('pre', { class: 'mono wrap', id: 'known-hosts', 'aria-labelledby': 'known-hosts-title' },
      keys.map((k) => id + ' ' + k.PublicKey).join('\n')));
}

/*
 * The instance's tags; with TagResources allowed, a KEY=VALUE form
 * (TagResources: a key it has takes the new value), with UntagResources a
 * Remove button per tag. The list is read again (ListTagResources) after
 * each change, so it shows what the server has.
 */
function tagSection(id, initial) {
  const list = el('ul', { class: 'tags', id: 'tags-list' });
  const err = el('p', { class: 'field-error', id: 'tags-error', role: 'alert' });
  const done = el('p', { class: 'muted', id: 'tags-status', 'aria-live': 'polite' });
  function render(tags) {
    clear(list);
    if (!tags.length) list.append(el('li', { class: 'empty', id: 'tags-none' }, 'No tags.'));
    for (const t of tags) {
      const li = el('li', { 'data-key': t.TagKey }, el('span', { class: 'tag mono' }, t.TagKey + '=' + t.TagValue));
      if (allows('UntagResources')) {
        const rm = el('button', { type: 'button', class: 'secondary small', 'aria-label': 'Remove tag ' + t.TagKey }, 'Remove');
        rm.addEventListener('click', async () => {
          rm.disabled = true;
          err.textContent = '';
          done.textContent = '';
          const r = await api('UntagResources', { ResourceType: 'instance', 'ResourceId.1': id, 'TagKey.1': t.TagKey });
          rm.disabled = false;
          if (!r.ok) { err.textContent = errText(r.body); return; }
          done.textContent = 'Removed ' + t.TagKey + '.';
          await reload();
        });
        li.append(' ', rm);
      }
      list.append(li);
    }
  }
  async function reload() {
    const r = await api('ListTagResources', { ResourceType: 'instance', 'ResourceId.1': id });
    if (!r.ok) { err.textContent = errText(r.body); return; }
    render((r.body.TagResources && r.body.TagResources.TagResource) || []);
  }
  render(initial);
  const sec = el('section', { 'aria-labelledby': 'tags-title', id: 'tags' },
    el('h2', { id: 'tags-title' }, 'Tags'), list);
  if (allows('TagResources')) {
    const input = el('input', { spellcheck: 'false', autocomplete: 'off', placeholder: 'env=prod', maxlength: 257 });
    const [w] = field('tag-add', 'Add a tag (KEY=VALUE)', input,
      { hint: 'A key it has already takes the new value. Keys: 1 to 128 characters, not aliyun… or acs:…; values: 0 to 128.' });
    const add = el('button', { type: 'submit', id: 'tag-add-submit' }, 'Add tag');
    const form = el('form', { class: 'toolbar', id: 'tag-form', novalidate: true }, w, add);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      fieldError('tag-add', '');
      err.textContent = '';
      done.textContent = '';
      const text = input.value.trim();
      const eq = text.indexOf('=');
      if (eq < 1) { fieldError('tag-add', 'Write KEY=VALUE (KEY= for an empty value).'); return; }
      add.disabled = true;
      const r = await api('TagResources', { ResourceType: 'instance', 'ResourceId.1': id,
        'Tag.1.Key': text.slice(0, eq), 'Tag.1.Value': text.slice(eq + 1) });
      add.disabled = false;
      if (!r.ok) { fieldError('tag-add', errText(r.body)); return; }
      input.value = '';
      done.textContent = 'Tagged ' + text + '.';
      await reload();
    });
    sec.append(form);
  }
  sec.append(done, err);
  return sec;
}

/*
 * Rename (ModifyManagedInstance) and Remove (DeregisterManagedInstance,
 * after a confirmation) of one instance.
 */
function manageInstance(id, inst) {
  const name = el('input', { spellcheck: 'false', autocomplete: 'off', maxlength: 128 });
  name.value = inst.InstanceName || '';
  const [wn] = field('rename-name', 'Name', name, { hint: '2 to 128 characters: a letter, then letters, digits, . _ - :' });
  const save = el('button', { type: 'submit', id: 'rename-submit' }, 'Rename');
  const saved = el('p', { class: 'muted', id: 'rename-status', 'aria-live': 'polite' });
  const rename = el('form', { class: 'toolbar', id: 'rename-form', novalidate: true }, wn, save);
  rename.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fieldError('rename-name', '');
    saved.textContent = '';
    const n = name.value.trim();
    if (!n) { fieldError('rename-name', 'A name is required.'); return; }
    save.disabled = true;
    const r = await api('ModifyManagedInstance', { InstanceId: id, InstanceName: n });
    save.disabled = false;
    if (!r.ok) { fieldError('rename-name', errText(r.body)); return; }
    const facts = $('instance-facts');
    if (facts && facts.querySelector('dd')) facts.querySelector('dd').textContent = n;
    saved.textContent = 'Renamed to ' + n + '.';
  });
  const remove = el('button', { type: 'button', class: 'danger', id: 'instance-remove' }, 'Remove instance');
  const confirmBox = el('div', { class: 'note', id: 'instance-remove-confirm', role: 'alertdialog', hidden: true,
    'aria-labelledby': 'instance-remove-q' });
  const yes = el('button', { type: 'button', class: 'danger', id: 'instance-remove-yes' }, 'Remove ' + id);
  const no = el('button', { type: 'button', class: 'secondary', id: 'instance-remove-no' }, 'Cancel');
  const err = el('p', { class: 'field-error', id: 'instance-remove-error', role: 'alert' });
  confirmBox.append(el('p', { id: 'instance-remove-q' }, 'Remove ' + id + ' (' + (inst.InstanceName || '') + ')? ' +
    'Its pending tasks fail, its agent stops at its next poll, and the server must register again to come back.'),
  el('div', { class: 'actions' }, yes, no));
  remove.addEventListener('click', () => { confirmBox.hidden = false; no.focus(); });
  no.addEventListener('click', () => { confirmBox.hidden = true; remove.focus(); });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    err.textContent = '';
    const r = await api('DeregisterManagedInstance', { InstanceId: id });
    yes.disabled = false;
    if (!r.ok) { err.textContent = errText(r.body); return; }
    location.hash = '#/instances';
  });
  return el('section', { 'aria-labelledby': 'manage-title' },
    el('h2', { id: 'manage-title' }, 'Manage'), rename, saved,
    el('div', { class: 'toolbar' }, remove), confirmBox, err);
}

/* Send File (SendFile, then DescribeSendFileResults until it ends). */
function sendFileSection(id) {
  return el('section', { 'aria-labelledby': 'sendfile-title' },
    el('h2', { id: 'sendfile-title' }, 'Files'),
    el('p', {}, 'Push a file to this server through its agent: written atomically, as its owner, never through a symbolic link.'),
    el('button', { type: 'button', id: 'sendfile-open', on: { click: () => openSendFile(id) } }, 'Send File'));
}

function b64bytes(buf) {
  const u = new Uint8Array(buf);
  let bin = '';
  for (let i = 0; i < u.length; i += 8192) bin += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  return btoa(bin);
}

function openSendFile(id) {
  const p = openPanel('Send File to ' + id);
  const form = el('form', { novalidate: true, id: 'sendfile-form' });
  const [wn, name] = field('sf-name', 'File name', el('input', { spellcheck: 'false' }), { required: true, hint: 'One path component, e.g. app.conf.' });
  const [wd, dir] = field('sf-dir', 'Target directory', el('input', { spellcheck: 'false', placeholder: '/etc/app' }), { required: true, hint: 'Absolute; missing directories are made (0755, owned by the owner).' });
  const [wo, owner] = field('sf-owner', 'Owner', el('input', { spellcheck: 'false' }), {});
  owner.value = 'root';
  const [wg, group] = field('sf-group', 'Group', el('input', { spellcheck: 'false' }), { hint: 'Empty: the owner\'s primary group.' });
  const [wm, mode] = field('sf-mode', 'Mode', el('input', { spellcheck: 'false', inputmode: 'numeric' }), { hint: 'Octal, as chmod takes it.' });
  mode.value = '0644';
  const over = el('input', { type: 'checkbox', id: 'sf-overwrite' });
  const [wc, content] = field('sf-content', 'Content', el('textarea', { spellcheck: 'false', class: 'mono' }),
    { hint: 'Type it, or pick a file (at most 24 KiB).' });
  const file = el('input', { type: 'file', id: 'sf-file' });
  let picked = null;		/* Base64 of the picked file, or null */
  const pickedNote = el('p', { class: 'muted', id: 'sf-file-status', 'aria-live': 'polite' });
  file.addEventListener('change', () => {
    const f = file.files && file.files[0];
    picked = null;
    pickedNote.textContent = '';
    if (!f) return;
    if (f.size > 24576) { fieldError('sf-content', 'That file is over 24 KiB, the most SendFile takes.'); return; }
    const rd = new FileReader();
    rd.onload = () => {
      picked = b64bytes(rd.result);
      content.value = '';
      content.disabled = true;
      fieldError('sf-content', '');
      pickedNote.textContent = f.name + ': ' + f.size + ' bytes, sent as they are.';
      if (!name.value) name.value = f.name;
    };
    rd.onerror = () => fieldError('sf-content', 'The file could not be read.');
    rd.readAsArrayBuffer(f);
  });
  wc.insertBefore(el('div', { class: 'row' }, el('label', { for: 'sf-file' }, 'or pick a file:'), file), wc.lastChild);
  wc.insertBefore(pickedNote, wc.lastChild);
  const submit = el('button', { type: 'submit', id: 'sf-submit' }, 'Send File');
  const results = el('div', { id: 'sf-results', 'aria-live': 'polite' });
  form.append(wn, wd, wo, wg, wm,
    el('div', { class: 'field' }, el('label', { for: 'sf-overwrite', class: 'switch' }, over, 'Overwrite an existing file')),
    wc, el('div', { class: 'actions' }, submit, el('button', { type: 'button', class: 'secondary', on: { click: closePanel } }, 'Cancel')),
    el('p', { class: 'field-error', id: 'sf-error', role: 'alert' }), results);
  p.append(form);
  name.focus();
  const fields = { Name: 'sf-name', TargetDir: 'sf-dir', FileOwner: 'sf-owner', FileGroup: 'sf-group', FileMode: 'sf-mode', Content: 'sf-content' };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    Object.values(fields).forEach((f) => fieldError(f, ''));
    $('sf-error').textContent = '';
    let bad = false;
    if (!name.value.trim()) { fieldError('sf-name', 'A file name is required.'); bad = true; }
    if (!dir.value.trim()) { fieldError('sf-dir', 'A directory is required.'); bad = true; }
    if (picked === null && content.value === '') { fieldError('sf-content', 'Type the content or pick a file.'); bad = true; }
    if (bad) return;
    const req = { 'InstanceId.1': id, Name: name.value.trim(), TargetDir: dir.value.trim(),
      FileOwner: owner.value.trim() || 'root', FileMode: mode.value.trim() || '0644', Overwrite: over.checked,
      Content: picked !== null ? picked : content.value, ContentType: picked !== null ? 'Base64' : 'PlainText' };
    if (group.value.trim()) req.FileGroup = group.value.trim();
    submit.disabled = true;
    const r = await api('SendFile', req);
    submit.disabled = false;
    if (!r.ok) {
      const code = r.body.Code || '';
      const hit = Object.keys(fields).find((k) => code.includes(k));
      if (hit) fieldError(fields[hit], errText(r.body));
      else if (code === 'Forbidden.RAM' && /user/i.test(r.body.Message || '')) fieldError('sf-owner', errText(r.body));
      else $('sf-error').textContent = errText(r.body);
      return;
    }
    const inv = r.body.InvokeId;
    clear(results);
    results.append(el('p', { class: 'muted', id: 'sf-invoke' }, 'Sent as ' + inv + '; waiting for the agent…'));
    const poll = async () => {
      if (!$('sf-results')) return;
      const q = await api('DescribeSendFileResults', { InvokeId: inv });
      if (!$('sf-results')) return;
      const it = q.ok && ((q.body.Invocations && q.body.Invocations.Invocation) || [])[0];
      if (!it) { clear(results); results.append(errorBox(q.ok ? { Code: 'NotFound', Message: 'No such send.' } : q.body)); return; }
      const list = (it.InvokeInstances && it.InvokeInstances.InvokeInstance) || [];
      clear(results);
      results.append(el('p', {}, 'File ', el('code', {}, it.TargetDir.replace(/\/$/, '') + '/' + it.Name), ' (' + it.InvokeId + '): ',
        el('span', { id: 'sf-status' }, badge(it.InvocationStatus))),
      el('table', { id: 'sf-table', 'aria-label': 'Send File results' },
        el('thead', {}, el('tr', {}, ['Instance', 'Status', 'Error', 'Finished'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, list.map((x) => el('tr', {},
          el('td', { class: 'mono' }, x.InstanceId), el('td', {}, badge(x.InvocationStatus)),
          el('td', { class: 'wrap' }, [x.ErrorCode, x.ErrorInfo].filter(Boolean).join(': ') || '—'),
          el('td', {}, x.FinishTime || '—'))))));
      if (['Pending', 'Running'].includes(it.InvocationStatus)) state.timers.push(setTimeout(poll, 1000));
    };
    await poll();
  });
}

/* Connect: a shell on the instance in the terminal page. */
function connectForm(id, online) {
  const user = el('input', { id: 'connect-user', spellcheck: 'false', autocomplete: 'off',
    value: localStorage.getItem('lk-connect-user') || '' });
  const form = el('form', { class: 'toolbar', id: 'connect-form', novalidate: true },
    el('div', { class: 'field' }, el('label', { for: 'connect-user' }, 'Log in as'), user,
      el('p', { class: 'field-error', id: 'connect-user-error', role: 'alert' })),
    el('button', { type: 'submit', id: 'connect', disabled: !online }, 'Connect'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const u = user.value.trim();
    if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$/.test(u)) {
      fieldError('connect-user', 'A user name: 1 to 32 of A-Z a-z 0-9 . _ -');
      return;
    }
    localStorage.setItem('lk-connect-user', u);
    location.hash = '#/terminal/' + encodeURIComponent(id) + '/' + encodeURIComponent(u);
  });
  return el('section', { 'aria-labelledby': 'connect-title' },
    el('h2', { id: 'connect-title' }, 'Shell'),
    el('p', {}, 'A shell on the server in your browser, through its agent (no sshd, no open port). ' +
      'The user must be allowed by your access key\'s Users policy and listed in the agent\'s --shell-users.'),
    form);
}

/* Your recent shell sessions on the instance, with Replay for those recorded. */
async function shellSessions(id) {
  const sec = el('section', { 'aria-labelledby': 'shell-sessions-title' },
    el('h2', { id: 'shell-sessions-title' }, 'Recent shell sessions'));
  const r = await api('DescribeTerminalSessions', { InstanceId: id, MaxResults: 50 });
  if (!r.ok) { sec.append(errorBox(r.body)); return sec; }
  const list = ((r.body.Sessions && r.body.Sessions.Session) || []).filter((s) => s.Kind === 'shell').slice(0, 10);
  if (!list.length) {
    sec.append(el('p', { class: 'empty', id: 'shell-sessions-none' }, 'None of yours yet.'));
    return sec;
  }
  const tbody = el('tbody');
  for (const s of list) {
    const c = (s.Connections && s.Connections.Connection && s.Connections.Connection[0]) || {};
    tbody.append(el('tr', {},
      el('td', { class: 'mono' }, s.SessionId),
      el('td', {}, s.Username),
      el('td', {}, s.CreationTime),
      el('td', {}, c.Status || ''),
      el('td', {}, s.HasRecording ? el('a', { href: '#/replay/' + encodeURIComponent(s.SessionId),
        class: 'replay', 'aria-label': 'Replay ' + s.SessionId }, 'Replay') : el('span', { class: 'muted' }, 'not recorded'))));
  }
  sec.append(el('table', { id: 'shell-sessions', 'aria-labelledby': 'shell-sessions-title' },
    el('thead', {}, el('tr', {}, ['Session', 'User', 'Created', 'Status', 'Recording'].map((h) => el('th', { scope: 'col' }, h)))),
    tbody));
  return sec;
}

/* A recorded shell session replayed in xterm.js with its timing (terminal.js). */
async function pageReplay(sid) {
  const v = view('Replay ' + sid);
  v.classList.add('term-view');
  const status = el('span', { class: 'status muted', id: 'replay-status', 'aria-live': 'polite' }, 'Loading…');
  const box = el('div', { class: 'terminal', id: 'terminal' });
  let h = null;
  const back = el('a', { href: '#/instances' }, '← Instances');
  v.append(el('div', { class: 'toolbar term-bar' }, back, status, el('span', { class: 'spacer' }),
    el('button', { type: 'button', class: 'secondary', id: 'replay-end', on: { click: () => h && h.skip() } }, 'Skip to end'),
    el('button', { type: 'button', class: 'secondary', id: 'replay-again', on: { click: route } }, 'Play again')),
    box);
  const here = location.hash;
  const r = await api('DescribeTerminalSessionRecording', { SessionId: sid });
  if (location.hash !== here) return;
  if (!r.ok) { status.replaceWith(errorBox(r.body)); return; }
  const s = await api('DescribeTerminalSessions', { SessionId: sid });
  const inst = s.ok && s.body.Sessions && s.body.Sessions.Session[0] &&
    s.body.Sessions.Session[0].Connections.Connection[0].InstanceId;
  if (inst) back.replaceWith(el('a', { href: '#/instance/' + encodeURIComponent(inst) }, '← Instance ' + inst));
  try {
    h = await LkTerminal.replay(box, r.body.Recording, (msg) => { status.textContent = msg; });
  } catch (e) {
    status.textContent = String(e.message || e);
    return;
  }
  if (r.body.Truncated) status.textContent += ' (truncated: it reached the agent\'s --record-max)';
  if (location.hash !== here) { h.close(); return; }
  state.term = h;
  window.lkTerminal = h;		/* for the browser tests */
}

/* The terminal page (terminal.js): the whole view, sized to the window. */
async function pageTerminal(id, user) {
  const v = view(user + '@' + id);
  v.classList.add('term-view');
  const status = el('span', { class: 'status muted', id: 'terminal-status', 'aria-live': 'polite' }, 'Connecting…');
  const box = el('div', { class: 'terminal', id: 'terminal' });
  let h = null;
  const again = el('button', { type: 'button', class: 'secondary', id: 'terminal-again', hidden: true,
    on: { click: route } }, 'Connect again');
  v.append(el('div', { class: 'toolbar term-bar' },
    el('a', { href: '#/instance/' + encodeURIComponent(id) }, '← Instance'), status,
    el('span', { class: 'spacer' }),
    el('button', { type: 'button', class: 'secondary', id: 'terminal-copy', on: { click: () => h && h.copy && h.copy() } }, 'Copy'),
    el('button', { type: 'button', class: 'secondary', id: 'terminal-paste', on: { click: () => h && h.paste && h.paste() } }, 'Paste'),
    again,
    el('button', { type: 'button', class: 'secondary', id: 'terminal-close',
      on: { click: () => { location.hash = '#/instance/' + encodeURIComponent(id); } } }, 'Disconnect')),
    box);
  const here = location.hash;
  const onStatus = (msg, ended) => {
    status.textContent = typeof msg === 'string' ? msg : errText(msg);
    status.classList.toggle('field-error', ended);
    again.hidden = !ended;
  };
  try {
    h = await LkTerminal.open(box, async (cols, rows) => {
      const r = await post('api/terminal', { Action: 'StartTerminalSession', Params: {
        'InstanceId.1': id, Username: user, Cols: cols, Rows: rows } }, true);
      if (r.status === 401 && r.body.Code === 'NotSignedIn') showSignin('Your session has ended; sign in again.');
      return r;
    }, onStatus);
  } catch (e) {
    onStatus({ Code: 'ConsoleError', Message: String(e.message || e) }, true);
    return;
  }
  if (location.hash !== here) { h.close(); return; }
  state.term = h;
  window.lkTerminal = h;		/* for the browser tests */
}

/* ------------------------------------------------------------------ */
/* Commands */

function paramDefs(cmd) {
  const d = cmd.ParameterDefinitions && cmd.ParameterDefinitions.ParameterDefinition;
  if (d && d.length) return d;
  const n = (cmd.ParameterNames && cmd.ParameterNames.ParameterName) || [];
  return n.map((name) => ({ ParameterName: name, Required: true, DefaultValue: '', Description: '' }));
}

async function pageCommands(mine) {
  const v = view(mine ? 'My Commands' : 'Common Commands');
  v.append(el('nav', { class: 'tabs', 'aria-label': 'Command lists' },
    el('a', { href: '#/commands/common', 'aria-current': mine ? null : 'page' }, 'Common Commands'),
    el('a', { href: '#/commands/mine', 'aria-current': mine ? 'page' : null }, 'My Commands')));
  const filter = el('input', { id: 'command-filter', type: 'search', placeholder: 'Name or description' });
  const bar = el('div', { class: 'toolbar' },
    el('div', { class: 'field grow' }, el('label', { for: 'command-filter' }, 'Filter commands'), filter));
  if (mine) bar.append(el('button', { type: 'button', id: 'new-command', on: { click: openCreateCommand } }, 'Create Command'));
  v.append(bar);
  const status = el('p', { class: 'status muted', 'aria-live': 'polite' }, 'Loading…');
  v.append(status);
  const r = await listAll('DescribeCommands', mine ? {} : { Provider: 'AlibabaCloud', Latest: true },
    (b) => b.Commands && b.Commands.Command);
  if (r.error) { status.replaceWith(errorBox(r.error)); return; }
  const tbody = el('tbody');
  const rows = r.items.map((c) => {
    const names = paramDefs(c).map((p) => p.ParameterName).join(', ');
    const acts = el('div', { class: 'row' },
      el('button', { type: 'button', 'aria-label': 'Create Task: ' + c.Name, on: { click: () => openTask(c) } }, 'Create Task'));
    if (mine) acts.append(el('button', { type: 'button', class: 'secondary', 'aria-label': 'Delete: ' + c.Name,
      on: { click: () => deleteCommand(c, status) } }, 'Delete'));
    const tr = el('tr', {},
      el('td', { class: 'wrap' }, el('strong', {}, c.Name), el('div', { class: 'muted mono' }, c.CommandId)),
      el('td', { class: 'wrap' }, c.Description),
      el('td', { class: 'wrap mono' }, names || '—'),
      el('td', {}, String(c.Version)),
      el('td', {}, acts));
    tr.dataset.search = (c.Name + ' ' + c.Description).toLowerCase();
    tbody.append(tr);
    return tr;
  });
  status.textContent = rows.length + ' command' + (rows.length === 1 ? '' : 's');
  v.append(rows.length ? el('table', { 'aria-labelledby': 'view-title' },
    el('thead', {}, el('tr', {}, ['Name', 'Description', 'Parameters', 'Version', 'Actions'].map((h) => el('th', { scope: 'col' }, h)))),
    tbody) : el('p', { class: 'empty' }, mine ? 'You have no command yet: Create Command makes one.' : 'No common command.'));
  bindFilter(filter, rows.map((tr) => ({ el: tr, search: tr.dataset.search })));
}

async function deleteCommand(c, status) {
  const r = await api('DeleteCommand', { CommandId: c.CommandId });
  if (!r.ok) { status.textContent = errText(r.body); return; }
  route();
}

function closePanel() {
  const p = $('panel');
  if (p) p.remove();
}

function openPanel(title) {
  closePanel();
  const close = el('button', { type: 'button', class: 'secondary', id: 'panel-close', on: { click: closePanel } }, 'Close');
  const p = el('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'panel-title' },
    el('div', { class: 'panel-head' }, el('h2', { id: 'panel-title' }, title), close));
  document.body.append(p);
  return p;
}

/* A labelled field; returns [wrapper, input]. */
function field(id, label, input, opts) {
  opts = opts || {};
  input.id = id;
  input.setAttribute('aria-describedby', id + '-error' + (opts.hint ? ' ' + id + '-hint' : ''));
  if (opts.required) input.setAttribute('aria-required', 'true');
  const w = el('div', { class: 'field' },
    el('label', { for: id }, label, opts.required ? el('span', { class: 'req', 'aria-hidden': 'true' }, '*') : null,
      opts.required ? el('span', { class: 'muted' }, ' (required)') : null),
    input,
    opts.hint ? el('p', { class: 'hint', id: id + '-hint' }, opts.hint) : null,
    el('p', { class: 'field-error', id: id + '-error', role: 'alert' }));
  return [w, input];
}

function isKeyParam(name) { return /publickey/i.test(name); }

/* The Create Task panel: one field per parameter, instances, the button. */
async function openTask(cmd) {
  const p = openPanel('Create Task: ' + cmd.Name);
  const form = el('form', { novalidate: true });
  p.append(form);
  if (cmd.Name === SEND_KEY) {
    form.append(el('div', { class: 'note' },
      el('p', {}, 'The servers need the Instance Connect plug-in. Install it once on each server, as root (or run ACS-ECS-InstallPlugin-linux.sh):'),
      el('code', { id: 'plugin-install' }, PLUGIN_INSTALL),
      el('p', {}, 'The key is accepted for 60 seconds; log in with it right away.')));
  }
  if (cmd.Description) form.append(el('p', { class: 'muted' }, cmd.Description));
  const params = [];
  paramDefs(cmd).forEach((d, i) => {
    const id = 'param-' + i;
    const key = isKeyParam(d.ParameterName);
    const input = key ? el('textarea', { spellcheck: 'false', placeholder: 'ssh-ed25519 AAAA… user@host' }) : el('input', { spellcheck: 'false' });
    input.value = d.DefaultValue || '';
    input.name = d.ParameterName;
    const hint = [d.Description, d.PatternRegex ? 'Pattern: ' + d.PatternRegex : ''].filter(Boolean).join(' — ');
    const [w] = field(id, d.ParameterName, input, { required: !!d.Required, hint });
    if (key) {
      const fileId = id + '-file';
      const file = el('input', { type: 'file', id: fileId, accept: '.pub,text/plain' });
      file.addEventListener('change', () => {
        const f = file.files && file.files[0];
        if (!f) return;
        if (f.size > 16384) { fieldError(id, 'That file is too large for a public key.'); return; }
        const rd = new FileReader();
        rd.onload = () => { input.value = String(rd.result).trim(); fieldError(id, ''); };
        rd.onerror = () => fieldError(id, 'The file could not be read.');
        rd.readAsText(f);
      });
      w.insertBefore(el('div', { class: 'row' }, el('label', { for: fileId }, 'or pick a public key file:'), file), w.lastChild);
    }
    form.append(w);
    params.push({ def: d, id, input });
  });
  let runAs = null;
  if (!cmd.Provider) {
    const [w, input] = field('task-username', 'Run as user', el('input', { spellcheck: 'false' }), { hint: 'Default root.' });
    input.value = 'root';
    runAs = input;
    form.append(w);
  }
  // Instances, with a search box.
  const search = el('input', { type: 'search', id: 'task-instance-search', placeholder: 'Search instances' });
  const pick = el('div', { class: 'pick', id: 'task-instances', role: 'group', 'aria-labelledby': 'task-instances-label', 'aria-describedby': 'task-instances-error' });
  form.append(el('div', { class: 'field' },
    el('label', { id: 'task-instances-label', for: 'task-instance-search' }, 'Instances', el('span', { class: 'req', 'aria-hidden': 'true' }, '*'), el('span', { class: 'muted' }, ' (required)')),
    search, pick, el('p', { class: 'field-error', id: 'task-instances-error', role: 'alert' })));
  const submit = el('button', { type: 'submit', id: 'task-submit' }, 'Create Task');
  form.append(el('div', { class: 'actions' }, submit,
    el('button', { type: 'button', class: 'secondary', on: { click: closePanel } }, 'Cancel')),
  el('p', { class: 'field-error', id: 'task-error', role: 'alert' }));
  pick.append(el('p', { class: 'muted' }, 'Loading instances…'));
  const inst = await loadInstances();
  clear(pick);
  if (inst.error) { pick.append(errorBox(inst.error)); }
  const boxes = (inst.items || []).map((i, n) => {
    const cb = el('input', { type: 'checkbox', id: 'task-inst-' + n, value: i.InstanceId });
    const online = i._agent.CloudAssistantStatus === 'true';
    const lab = el('label', { for: 'task-inst-' + n }, cb,
      el('span', { class: 'mono' }, i.InstanceId), el('span', {}, i.InstanceName), badge(online ? 'online' : 'offline'));
    lab.dataset.search = [i.InstanceId, i.InstanceName, addresses(i)].join(' ').toLowerCase();
    pick.append(lab);
    return { cb, lab };
  });
  if (!boxes.length && !inst.error) pick.append(el('p', { class: 'muted' }, 'No instance is registered.'));
  bindFilter(search, boxes.map((b) => ({ el: b.lab, search: b.lab.dataset.search })));
  form.addEventListener('submit', (e) => { e.preventDefault(); submitTask(cmd, params, runAs, boxes, submit); });
  (params[0] ? params[0].input : search).focus();
}

/* Which field an InvokeCommand error belongs to. */
function taskErrorField(body, params) {
  const code = body.Code || '', msg = body.Message || '';
  const q = /"([A-Za-z]+)"/.exec(msg);
  if (q && q[1] === 'Username') return 'task-username';
  if (q && /^InstanceId/.test(q[1])) return 'task-instances';
  if (/InstanceId|Instance|Forbidden\.RAM/.test(code) && /instance/i.test(msg + code)) return 'task-instances';
  if (/Username/.test(code)) return 'task-username';
  if (/Parameter|Param/.test(code)) {
    const pm = /parameter "?([A-Za-z0-9_-]+)"?/i.exec(msg);
    const hit = pm && params.find((p) => p.def.ParameterName.toLowerCase() === pm[1].toLowerCase());
    if (hit) return hit.id;
    for (const p of params) if (msg.toLowerCase().includes(p.def.ParameterName.toLowerCase())) return p.id;
    if (/username|user/i.test(msg)) { const u = params.find((p) => /user/i.test(p.def.ParameterName)); if (u) return u.id; }
    return params.length ? params[0].id : 'task';
  }
  if (code === 'Forbidden.RAM') { const u = params.find((p) => /user/i.test(p.def.ParameterName)); if (u) return u.id; }
  return 'task';
}

async function submitTask(cmd, params, runAs, boxes, submit) {
  let bad = false;
  const values = {};
  for (const p of params) {
    const v = p.input.value;
    fieldError(p.id, '');
    if (p.def.Required && v.trim() === '') { fieldError(p.id, p.def.ParameterName + ' is required.'); bad = true; }
    if (v !== '' || p.def.Required) values[p.def.ParameterName] = isKeyParam(p.def.ParameterName) ? v.trim() : v;
  }
  const ids = boxes.filter((b) => b.cb.checked).map((b) => b.cb.value);
  fieldError('task-instances', ids.length ? '' : 'Select at least one instance.');
  $('task-error').textContent = '';
  if (runAs) fieldError('task-username', '');
  if (!ids.length) bad = true;
  if (bad) return;
  const req = { CommandId: cmd.CommandId };
  ids.forEach((id, i) => { req['InstanceId.' + (i + 1)] = id; });
  if (params.length) req.Parameters = JSON.stringify(values);
  if (runAs && runAs.value.trim()) req.Username = runAs.value.trim();
  submit.disabled = true;
  const r = await api('InvokeCommand', req);
  submit.disabled = false;
  if (!r.ok) {
    const f = taskErrorField(r.body, params);
    if (f === 'task') $('task-error').textContent = errText(r.body);
    else fieldError(f, errText(r.body));
    return;
  }
  closePanel();
  location.hash = '#/invocation/' + encodeURIComponent(r.body.InvokeId);
}

function openCreateCommand() {
  const p = openPanel('Create Command');
  const form = el('form', { novalidate: true });
  const [wn, name] = field('cc-name', 'Name', el('input', { spellcheck: 'false', maxlength: 128 }), { required: true });
  const [wd, desc] = field('cc-description', 'Description', el('input', {}), {});
  const [wc, content] = field('cc-content', 'Script (RunShellScript)', el('textarea', { spellcheck: 'false', class: 'mono' }),
    { required: true, hint: 'With parameters enabled, {{name}} placeholders become parameters.' });
  const [wt, timeout] = field('cc-timeout', 'Timeout (seconds)', el('input', { type: 'number', min: 10, max: 86400 }), {});
  timeout.value = '60';
  const enable = el('input', { type: 'checkbox', id: 'cc-params' });
  const submit = el('button', { type: 'submit', id: 'cc-submit' }, 'Create Command');
  form.append(wn, wd, wc, wt,
    el('div', { class: 'field' }, el('label', { for: 'cc-params', class: 'switch' }, enable, 'Use parameters')),
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', class: 'secondary', on: { click: closePanel } }, 'Cancel')),
    el('p', { class: 'field-error', id: 'cc-error', role: 'alert' }));
  p.append(form);
  name.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    ['cc-name', 'cc-description', 'cc-content', 'cc-timeout'].forEach((id) => fieldError(id, ''));
    $('cc-error').textContent = '';
    let bad = false;
    if (!name.value) { fieldError('cc-name', 'Name is required.'); bad = true; }
    if (!content.value) { fieldError('cc-content', 'The script is required.'); bad = true; }
    if (bad) return;
    submit.disabled = true;
    const r = await api('CreateCommand', { Name: name.value, Description: desc.value, Type: 'RunShellScript',
      CommandContent: content.value, ContentEncoding: 'PlainText', Timeout: timeout.value || '60',
      EnableParameter: enable.checked });
    submit.disabled = false;
    if (r.ok) { closePanel(); route(); return; }
    const code = r.body.Code || '', msg = r.body.Message || '';
    const named = { Name: 'cc-name', Description: 'cc-description', CommandContent: 'cc-content', Timeout: 'cc-timeout' };
    let f = 'cc-error';
    const q = /"([A-Za-z]+)"/.exec(msg);
    if (q && named[q[1]]) f = named[q[1]];
    else if (/Name/.test(code)) f = 'cc-name';
    else if (/Desc/.test(code)) f = 'cc-description';
    else if (/Content|Parameter/.test(code)) f = 'cc-content';
    else if (/Timeout/.test(msg)) f = 'cc-timeout';
    if (f === 'cc-error') $('cc-error').textContent = errText(r.body);
    else fieldError(f, errText(r.body));
  });
}

/* ------------------------------------------------------------------ */
/* Invocations */

function progress(inv) {
  const list = (inv.InvokeInstances && inv.InvokeInstances.InvokeInstance) || [];
  const done = list.filter((i) => FINISHED.includes(i.InvocationStatus)).length;
  return el('div', {}, el('span', { class: 'muted' }, done + '/' + list.length + ' finished '),
    list.map((i) => el('span', { class: 'badge s-' + i.InvocationStatus, title: i.InstanceId }, i.InstanceId + ': ' + i.InvocationStatus)));
}

async function pageInvocations() {
  const v = view('Invocations');
  v.append(el('div', { class: 'toolbar' },
    el('button', { type: 'button', class: 'secondary', on: { click: route } }, 'Refresh'),
    el('span', { class: 'muted' }, 'Refreshes by itself while an invocation runs.')));
  const owner = ownerFilter('inv', route);
  if (owner.form) v.append(owner.form);
  const status = el('p', { class: 'status muted', 'aria-live': 'polite' }, 'Loading…');
  const holder = el('div');
  v.append(status, holder);
  const here = location.hash;
  const load = async () => {
    const r = await api('DescribeInvocations', Object.assign({ PageSize: 50 }, owner.params()));
    if (location.hash !== here) return;
    if (!r.ok) { status.replaceWith(errorBox(r.body)); return; }
    const invs = (r.body.Invocations && r.body.Invocations.Invocation) || [];
    status.textContent = r.body.TotalCount + ' invocation' + (r.body.TotalCount === 1 ? '' : 's') +
      (r.body.TotalCount > invs.length ? ' (newest ' + invs.length + ' shown)' : '');
    clear(holder);
    if (!invs.length) { holder.append(el('p', { class: 'empty' }, 'No invocation yet: Create Task on a command.')); return; }
    holder.append(el('table', { 'aria-labelledby': 'view-title' },
      el('thead', {}, el('tr', {}, ['Invocation', 'Command', 'Status', 'Progress', 'Created'].concat(owner.others() ? ['Owner'] : [])
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, invs.map((inv) => el('tr', { 'data-owner': inv.Owner || '' },
        el('td', { class: 'mono' }, el('a', { href: '#/invocation/' + encodeURIComponent(inv.InvokeId) }, inv.InvokeId)),
        el('td', { class: 'wrap' }, inv.CommandName),
        el('td', {}, badge(inv.InvocationStatus)),
        el('td', {}, progress(inv)),
        el('td', {}, inv.CreationTime),
        owner.others() ? el('td', { class: 'mono inv-owner' }, inv.Owner || '') : null)))));
    if (invs.some((i) => !FINISHED.includes(i.InvocationStatus))) state.timers.push(setTimeout(load, 2000));
  };
  await load();
}

function b64text(s) { return s || ''; }

/*
 * The operator's owner filter of Invocations and Sessions (the API's
 * Owner extension): mine, everyone's, or one access key's. Kept in
 * sessionStorage per list. An access key's session has none.
 */
function ownerFilter(prefix, reload) {
  if (!state.who || state.who.Kind !== 'operator') return { form: null, params: () => ({}), others: () => false };
  const saved = sessionStorage.getItem('lk-owner-' + prefix) || '';
  const sel = el('select', { id: prefix + '-owner' },
    el('option', { value: '' }, 'Mine'), el('option', { value: '*' }, 'Everyone'),
    el('option', { value: 'key' }, 'One access key'));
  const key = el('input', { id: prefix + '-owner-key', spellcheck: 'false', placeholder: 'LTAI…' });
  sel.value = saved === '' || saved === '*' ? saved : 'key';
  key.value = sel.value === 'key' ? saved : '';
  const keyField = el('div', { class: 'field', hidden: sel.value !== 'key' },
    el('label', { for: prefix + '-owner-key' }, 'Access key ID'), key);
  const form = el('form', { class: 'toolbar', id: prefix + '-owner-form', novalidate: true },
    el('div', { class: 'field' }, el('label', { for: prefix + '-owner' }, 'Whose'), sel), keyField,
    el('button', { type: 'submit', id: prefix + '-owner-apply' }, 'Show'));
  sel.addEventListener('change', () => { keyField.hidden = sel.value !== 'key'; });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('lk-owner-' + prefix, sel.value === 'key' ? key.value.trim() : sel.value);
    reload();
  });
  const value = () => sessionStorage.getItem('lk-owner-' + prefix) || '';
  return { form, params: () => (value() ? { Owner: value() } : {}), others: () => value() !== '' };
}

/* Sessions: DescribeTerminalSessions (an operator: anyone's, by key). */
async function pageSessions() {
  const v = view('Sessions');
  const owner = ownerFilter('sess', route);
  if (owner.form) v.append(owner.form);
  const status = el('p', { class: 'status muted', id: 'sessions-status', 'aria-live': 'polite' }, 'Loading…');
  v.append(status);
  const r = await listAll('DescribeTerminalSessions', owner.params(), (b) => b.Sessions && b.Sessions.Session, 200);
  if (r.error) { status.replaceWith(errorBox(r.error)); return; }
  status.textContent = r.items.length + ' session' + (r.items.length === 1 ? '' : 's');
  if (!r.items.length) { v.append(el('p', { class: 'empty' }, 'No session.')); return; }
  v.append(el('table', { 'aria-labelledby': 'view-title', id: 'sessions' },
    el('thead', {}, el('tr', {}, ['Session', 'Kind', 'Instance', 'User or port', 'Status', 'Started', 'Ended', 'Principal', 'Client']
      .map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, r.items.map((x) => {
      const c = ((x.Connections && x.Connections.Connection) || [])[0] || {};
      return el('tr', { 'data-id': x.SessionId },
        el('td', { class: 'mono' }, x.SessionId), el('td', {}, x.Kind || ''),
        el('td', { class: 'mono' }, c.InstanceId || ''),
        el('td', { class: 'mono' }, x.Username || (x.PortNumber ? 'port ' + x.PortNumber : '')),
        el('td', {}, badge(c.Status || '')), el('td', {}, c.StartTime || x.CreationTime || ''),
        el('td', {}, c.EndTime || ''), el('td', { class: 'mono sess-principal' }, x.PrincipalId || ''),
        el('td', { class: 'mono' }, x.ClientIP || ''));
    }))));
}

async function pageInvocation(id) {
  const v = view('Invocation ' + id);
  v.append(el('p', {}, el('a', { href: '#/invocations' }, '← All invocations')));
  const status = el('p', { class: 'status muted', 'aria-live': 'polite' }, 'Loading…');
  const head = el('div');
  const results = el('div', { id: 'results' });
  const stop = el('button', { type: 'button', class: 'danger', id: 'stop-invocation', hidden: true }, 'Stop');
  const stopErr = el('p', { class: 'field-error', id: 'stop-error', role: 'alert' });
  v.append(el('div', { class: 'toolbar' }, stop, stopErr), status, head, el('h2', {}, 'Results per instance'), results);
  stop.addEventListener('click', async () => {
    stop.disabled = true;
    const r = await api('StopInvocation', { InvokeId: id });
    stop.disabled = false;
    stopErr.textContent = r.ok ? '' : errText(r.body);
    if (r.ok) { stopTimers(); load(); }
  });
  const here = location.hash;
  const load = async () => {
    // An operator may open anyone's invocation (Owner=*, docs/api.md).
    const own = state.who.Kind === 'operator' ? { Owner: '*' } : {};
    const [a, b] = await Promise.all([
      api('DescribeInvocations', Object.assign({ InvokeId: id, ContentEncoding: 'PlainText' }, own)),
      api('DescribeInvocationResults', Object.assign({ InvokeId: id, ContentEncoding: 'PlainText', PageSize: 50 }, own))]);
    if (location.hash !== here) return;
    if (!a.ok || !b.ok) { status.textContent = errText(a.ok ? b.body : a.body); return; }
    const inv = ((a.body.Invocations && a.body.Invocations.Invocation) || [])[0];
    if (!inv) { status.textContent = 'No such invocation.'; return; }
    const res = (b.body.Invocation && b.body.Invocation.InvocationResults &&
      b.body.Invocation.InvocationResults.InvocationResult) || [];
    // The two answers are read one after the other: refresh until both agree.
    const running = !FINISHED.includes(inv.InvocationStatus) ||
      res.some((x) => !FINISHED.includes(x.InvocationStatus));
    status.textContent = running ? 'Running; refreshing every 2 seconds.' : 'Finished.';
    stop.hidden = !running;
    clear(head);
    head.append(el('dl', { class: 'kv' },
      el('dt', {}, 'Status'), el('dd', { id: 'invocation-status' }, badge(inv.InvocationStatus)),
      el('dt', {}, 'Command'), el('dd', {}, inv.CommandName),
      el('dt', {}, 'Parameters'), el('dd', { class: 'mono' }, inv.Parameters || '{}'),
      el('dt', {}, 'Run as'), el('dd', {}, inv.Username),
      el('dt', {}, 'Created'), el('dd', {}, inv.CreationTime)));
    clear(results);
    for (const x of res) {
      results.append(el('div', { class: 'result' },
        el('h3', { class: 'mono' }, x.InstanceId),
        el('dl', { class: 'kv' },
          el('dt', {}, 'Status'), el('dd', {}, badge(x.InvocationStatus)),
          el('dt', {}, 'Exit code'), el('dd', { class: 'mono exit-code' }, FINISHED.includes(x.InvocationStatus) ? String(x.ExitCode) : '—'),
          el('dt', {}, 'Error'), el('dd', {}, [x.ErrorCode, x.ErrorInfo].filter(Boolean).join(': ') || '—'),
          el('dt', {}, 'Finished'), el('dd', {}, x.FinishedTime || '—')),
        el('pre', { 'aria-label': 'Output of ' + x.InstanceId }, b64text(x.Output) || '(no output)'),
        x.Dropped ? el('p', { class: 'muted' }, x.Dropped + ' bytes of output were cut.') : null));
    }
    if (inv.CommandName === SEND_KEY) await pushHints(results, inv, res);
    if (running) state.timers.push(setTimeout(load, 2000));
  };
  await load();
}

/*
 * After a key push (ACS-ECS-SendSshPublicKey-linux.sh) succeeded on an
 * instance: how to log in now, and until when: the expiry the plug-in
 * printed ("stored ... until 2026-01-02T03:04:05Z (60 s)", as latchkey
 * send-key reads it), else 60 s (its default) from the result's
 * FinishedTime, when the key was stored.
 */
const PUSH_TTL_MS = 60000;

function pushUntil(x) {
  const m = / until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) /.exec(b64text(x.Output) || '');
  const stored = m ? Date.parse(m[1]) : NaN;
  if (!Number.isNaN(stored)) return new Date(stored);
  const done = Date.parse(x.FinishedTime || '');
  return new Date((Number.isNaN(done) ? Date.now() : done) + PUSH_TTL_MS);
}

function hhmmss(d) {
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

async function pushHints(results, inv, res) {
  let user = '';
  try { user = String(JSON.parse(inv.Parameters || '{}').username || ''); } catch (e) { user = ''; }
  const ok = res.filter((x) => x.InvocationStatus === 'Success');
  if (!user || !ok.length) return;
  const ids = ok.map((x) => x.InstanceId);
  const r = await api('DescribeInstances', { InstanceIds: JSON.stringify(ids) });
  const byId = {};
  for (const i of (r.ok && r.body.Instances && r.body.Instances.Instance) || []) byId[i.InstanceId] = i;
  for (const x of ok) {
    const box = [...results.querySelectorAll('.result')].find((b) => b.querySelector('h3').textContent === x.InstanceId);
    if (!box) continue;
    const inst = byId[x.InstanceId];
    const addr = (inst && addresses(inst).split(', ')[0]) || x.InstanceId;
    const until = pushUntil(x);
    const left = until.getTime() - Date.now();
    box.append(el('div', { class: 'note push-hint', role: 'status', 'data-instance': x.InstanceId },
      el('p', {}, el('strong', {}, left > 0 ? 'Log in now: ' : 'The key has expired; push it again to log in: '),
        el('code', { class: 'push-ssh' }, 'ssh ' + user + '@' + addr),
        ' (or ', el('code', {}, 'ssh ' + user + '@' + x.InstanceId), ' with the README\'s ssh block), until ',
        el('time', { class: 'push-until', datetime: until.toISOString() }, hhmmss(until)), '.')));
  }
}

/* ------------------------------------------------------------------ */
/* Audit: DescribeAuditEvents, under the same policy as the API (a key
 * sees its own events unless its policy allows all; an operator its). */

function auditActor(a) {
  const [k, v] = Object.entries(a || {})[0] || ['anonymous', ''];
  return (k === 'access_key_id' ? 'key' : k) + (v ? ' ' + v : '');
}

async function pageAudit() {
  const v = view('Audit');
  const f = { instance: el('input', { id: 'audit-instance', spellcheck: 'false', placeholder: 'i-…' }),
    user: el('input', { id: 'audit-user', spellcheck: 'false', placeholder: 'login or run-as user' }),
    since: el('input', { id: 'audit-since', spellcheck: 'false', placeholder: 'YYYY-MM-DDThh:mm:ssZ',
      'aria-describedby': 'audit-since-error' }),
    kind: el('input', { id: 'audit-kind', spellcheck: 'false', placeholder: 'key.push, login, …' }) };
  const field = (id, label, input, err) => el('div', { class: 'field' }, el('label', { for: id }, label), input,
    err ? el('p', { class: 'field-error', id: id + '-error', role: 'alert' }) : null);
  const form = el('form', { class: 'toolbar', id: 'audit-filter', novalidate: true },
    field('audit-instance', 'Instance', f.instance), field('audit-user', 'User', f.user),
    field('audit-since', 'Since', f.since, true), field('audit-kind', 'Kind', f.kind),
    el('button', { type: 'submit', id: 'audit-apply' }, 'Filter'));
  const status = el('p', { class: 'status muted', id: 'audit-status', 'aria-live': 'polite' }, 'Loading…');
  const holder = el('div');
  const older = el('button', { type: 'button', class: 'secondary', id: 'audit-older', hidden: true }, 'Older');
  const newer = el('button', { type: 'button', class: 'secondary', id: 'audit-newer', hidden: true }, 'Newer');
  v.append(form, status, holder, el('div', { class: 'toolbar' }, newer, older));
  let page = 1;
  const here = location.hash;
  const load = async () => {
    const p = { PageSize: 50, PageNumber: page };
    if (f.instance.value.trim()) p.InstanceId = f.instance.value.trim();
    if (f.user.value.trim()) p.UserName = f.user.value.trim();
    if (f.since.value.trim()) p.Since = f.since.value.trim();
    if (f.kind.value.trim()) p.Kind = f.kind.value.trim();
    fieldError('audit-since', '');
    status.textContent = 'Loading…';
    const r = await api('DescribeAuditEvents', p);
    if (location.hash !== here) return;
    clear(holder);
    if (!r.ok) {
      status.textContent = '';
      if (r.body.Code === 'InvalidParameter.Since') fieldError('audit-since', 'A UTC time: YYYY-MM-DDThh:mm:ssZ.');
      holder.append(errorBox(r.body));
      return;
    }
    const ae = r.body.AuditEvents;
    const evs = (ae && (Array.isArray(ae) ? ae : ae.AuditEvent)) || [];
    const total = r.body.TotalCount || 0;
    status.textContent = total + ' event' + (total === 1 ? '' : 's') +
      (total > evs.length ? ' (page ' + page + ', newest first)' : '');
    older.hidden = page * 50 >= total;
    newer.hidden = page <= 1;
    if (!evs.length) { holder.append(el('p', { class: 'empty' }, 'No event matches.')); return; }
    holder.append(el('table', { 'aria-labelledby': 'view-title', id: 'audit-table' },
      el('thead', {}, el('tr', {}, ['Seq', 'Time', 'Kind', 'Actor', 'Target', 'Outcome', 'Detail']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, evs.map((e) => el('tr', { 'data-seq': String(e.seq) },
        el('td', { class: 'mono' }, String(e.seq)),
        el('td', { class: 'mono' }, e.time),
        el('td', { class: 'mono audit-kind' }, e.kind),
        el('td', { class: 'mono wrap' }, auditActor(e.actor)),
        el('td', { class: 'mono wrap' }, [e.target && e.target.user, e.target && e.target.instance]
          .filter(Boolean).join('@') || '—'),
        el('td', {}, el('span', { class: 'badge s-' + (e.outcome === 'ok' ? 'Success' : 'Failed') }, e.outcome),
          e.code ? ' ' + e.code : ''),
        el('td', { class: 'mono wrap audit-detail' }, JSON.stringify(e.detail || {})))))));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); page = 1; load(); });
  older.addEventListener('click', () => { page++; load(); });
  newer.addEventListener('click', () => { page = Math.max(1, page - 1); load(); });
  await load();
}

/* ------------------------------------------------------------------ */
/* Activations: DescribeActivations, CreateActivation (the code is shown
 * once), DisableActivation, DeleteActivation (after a confirmation). */

async function pageActivations() {
  const v = view('Activations');
  v.append(el('p', {}, 'An activation lets servers register with latchkey-agent register until it expires or its uses run out.'),
    el('div', { class: 'toolbar' },
      el('button', { type: 'button', id: 'activation-new', on: { click: openCreateActivation } }, 'Create Activation'),
      el('button', { type: 'button', class: 'secondary', on: { click: route } }, 'Refresh')));
  const status = el('p', { class: 'status muted', id: 'activations-status', 'aria-live': 'polite' }, 'Loading…');
  const err = el('p', { class: 'field-error', id: 'activations-error', role: 'alert' });
  v.append(status, err);
  const r = await listAll('DescribeActivations', {}, (b) => b.ActivationList);
  if (r.error) { status.replaceWith(errorBox(r.error)); return; }
  status.textContent = r.items.length + ' activation' + (r.items.length === 1 ? '' : 's');
  if (!r.items.length) { v.append(el('p', { class: 'empty' }, 'No activation yet: Create Activation makes one.')); return; }
  const now = Date.now();
  v.append(el('table', { 'aria-labelledby': 'view-title', id: 'activations' },
    el('thead', {}, el('tr', {}, ['Activation', 'Description', 'Instance name', 'Uses left', 'Registered', 'Address range',
      'Expires', 'State', 'Actions'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, r.items.map((a) => {
      const expired = Date.parse(a.ExpiredTime) <= now;
      const st = a.Disabled ? 'disabled' : expired ? 'expired' : 'active';
      const acts = el('div', { class: 'row' });
      if (!a.Disabled) {
        acts.append(el('button', { type: 'button', class: 'secondary', 'aria-label': 'Disable ' + a.ActivationId,
          on: { click: async (ev) => {
            ev.target.disabled = true;
            const d = await api('DisableActivation', { ActivationId: a.ActivationId });
            if (!d.ok) { ev.target.disabled = false; err.textContent = errText(d.body); return; }
            route();
          } } }, 'Disable'));
      }
      const del = el('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + a.ActivationId }, 'Delete');
      del.addEventListener('click', async () => {
        if (del.dataset.armed !== '1') {
          del.dataset.armed = '1';
          del.textContent = 'Confirm delete';
          err.textContent = 'Press Confirm delete to delete ' + a.ActivationId + '.';
          return;
        }
        del.disabled = true;
        const d = await api('DeleteActivation', { ActivationId: a.ActivationId });
        if (!d.ok) { del.disabled = false; err.textContent = errText(d.body); return; }
        route();
      });
      acts.append(del);
      return el('tr', { 'data-id': a.ActivationId },
        el('td', { class: 'mono' }, a.ActivationId),
        el('td', { class: 'wrap' }, a.Description || '—'),
        el('td', {}, a.InstanceName || '—'),
        el('td', { class: 'uses-left' }, String(a.UsesLeft) + ' of ' + a.InstanceCount),
        el('td', {}, String(a.RegisteredCount) + (a.DeregisteredCount ? ' (' + a.DeregisteredCount + ' removed)' : '')),
        el('td', { class: 'mono' }, a.IpAddressRange),
        el('td', {}, a.ExpiredTime),
        el('td', { class: 'activation-state' }, badge(st)),
        el('td', {}, acts));
    }))));
}

function openCreateActivation() {
  const p = openPanel('Create Activation');
  const form = el('form', { novalidate: true, id: 'activation-form' });
  const [wc, count] = field('act-count', 'Instances', el('input', { type: 'number', min: 1, max: 1000 }), { hint: 'How many servers may register with it: 1 to 1000.' });
  count.value = '10';
  const [wn, name] = field('act-name', 'Instance name prefix', el('input', { spellcheck: 'false' }), { hint: 'Optional: instances are named PREFIX-N; otherwise by their host name.' });
  const [wt, ttl] = field('act-ttl', 'Valid for (hours)', el('input', { type: 'number', min: 1, max: 8760 }), { hint: '1 to 8760.' });
  ttl.value = '4';
  const [wi, range] = field('act-range', 'Address range', el('input', { spellcheck: 'false', placeholder: '10.0.0.0/8' }), { hint: 'Optional: registrations only from this address or CIDR block.' });
  const [wd, desc] = field('act-description', 'Description', el('input', { maxlength: 100 }), {});
  const submit = el('button', { type: 'submit', id: 'act-submit' }, 'Create Activation');
  const out = el('div', { id: 'act-result' });
  form.append(wc, wn, wt, wi, wd, el('div', { class: 'actions' }, submit,
    el('button', { type: 'button', class: 'secondary', on: { click: closePanel } }, 'Cancel')),
  el('p', { class: 'field-error', id: 'act-error', role: 'alert' }));
  p.append(form, out);
  count.focus();
  const fields = { InstanceCount: 'act-count', InstanceName: 'act-name', TimeToLiveInHours: 'act-ttl', IpAddressRange: 'act-range', Description: 'act-description' };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    Object.values(fields).forEach((f) => fieldError(f, ''));
    $('act-error').textContent = '';
    const req = { InstanceCount: count.value.trim() || '10', TimeToLiveInHours: ttl.value.trim() || '4' };
    if (name.value.trim()) req.InstanceName = name.value.trim();
    if (range.value.trim()) req.IpAddressRange = range.value.trim();
    if (desc.value) req.Description = desc.value;
    submit.disabled = true;
    const r = await api('CreateActivation', req);
    submit.disabled = false;
    if (!r.ok) {
      const code = r.body.Code || '', msg = r.body.Message || '';
      const hit = Object.keys(fields).find((k) => code.includes(k) || msg.includes(k));
      if (hit) fieldError(fields[hit], errText(r.body));
      else $('act-error').textContent = errText(r.body);
      return;
    }
    form.hidden = true;
    out.append(el('div', { class: 'note', role: 'status' },
      el('p', {}, el('strong', {}, 'Activation created. The code is shown only now: copy it.')),
      el('dl', { class: 'kv' },
        el('dt', {}, 'ActivationId'), el('dd', { class: 'mono', id: 'act-new-id' }, r.body.ActivationId),
        el('dt', {}, 'ActivationCode'), el('dd', { class: 'mono', id: 'act-new-code' }, r.body.ActivationCode)),
      el('p', {}, 'On the server, as root:'),
      el('pre', { id: 'act-register' }, 'latchkey-agent register --server ' + location.origin +
        ' --activation-id ' + r.body.ActivationId + ' --activation-code ' + r.body.ActivationCode),
      el('div', { class: 'actions' }, copyButton('act-copy', 'Copy code', () => r.body.ActivationCode),
        el('button', { type: 'button', id: 'act-done', on: { click: () => { closePanel(); route(); } } }, 'Done'))));
    $('act-done').focus();
  });
}

/* ------------------------------------------------------------------ */
/* Access keys (operators only): /console/api/accesskeys, not the API. */

async function keysCall(action, params) {
  const r = await post('api/accesskeys', { Action: action, Params: params || {} }, true);
  if (r.status === 401 && r.body.Code === 'NotSignedIn') {
    showSignin('Your session has ended; sign in again.');
    throw new Error('signed out');
  }
  return r;
}

function policyText(v) {
  return Array.isArray(v) ? (v.length ? v.join(', ') : '(none)') : String(v || '*');
}

async function pageAccessKeys() {
  const v = view('Access keys');
  if (state.who.Kind !== 'operator') {
    v.append(errorBox({ Code: 'Forbidden.Operator', Message: 'Only an operator manages access keys.' }));
    return;
  }
  v.append(el('div', { class: 'toolbar' },
    el('button', { type: 'button', id: 'accesskey-new', on: { click: openCreateKey } }, 'Create AccessKey'),
    el('button', { type: 'button', class: 'secondary', on: { click: route } }, 'Refresh')));
  const status = el('p', { class: 'status muted', id: 'accesskeys-status', 'aria-live': 'polite' }, 'Loading…');
  const err = el('p', { class: 'field-error', id: 'accesskeys-error', role: 'alert' });
  v.append(status, err);
  const r = await keysCall('ListAccessKeys');
  if (!r.ok) { status.replaceWith(errorBox(r.body)); return; }
  const keys = r.body.AccessKeys || [];
  status.textContent = keys.length + ' access key' + (keys.length === 1 ? '' : 's');
  if (!keys.length) { v.append(el('p', { class: 'empty' }, 'No access key yet.')); return; }
  v.append(el('table', { 'aria-labelledby': 'view-title', id: 'accesskeys' },
    el('thead', {}, el('tr', {}, ['AccessKey ID', 'Description', 'Actions', 'Instances', 'Users', 'Created', 'State', '']
      .map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, keys.map((k) => {
      const pol = k.Policy || {};
      const dis = k.Disabled ? null : el('button', { type: 'button', class: 'secondary', 'aria-label': 'Disable ' + k.AccessKeyId,
        on: { click: async (ev) => {
          ev.target.disabled = true;
          const d = await keysCall('DisableAccessKey', { AccessKeyId: k.AccessKeyId });
          if (!d.ok) { ev.target.disabled = false; err.textContent = errText(d.body); return; }
          route();
        } } }, 'Disable');
      return el('tr', { 'data-id': k.AccessKeyId },
        el('td', { class: 'mono' }, k.AccessKeyId),
        el('td', { class: 'wrap' }, k.Description || '—'),
        el('td', { class: 'wrap mono' }, policyText(pol.Actions)),
        el('td', { class: 'wrap mono' }, policyText(pol.Instances)),
        el('td', { class: 'wrap mono' }, policyText(pol.Users)),
        el('td', {}, k.CreationTime),
        el('td', { class: 'key-state' }, badge(k.Disabled ? 'disabled' : 'active')),
        el('td', {}, dis));
    }))));
}

function openCreateKey() {
  const p = openPanel('Create AccessKey');
  const form = el('form', { novalidate: true, id: 'accesskey-form' });
  const [wd, desc] = field('ak-new-description', 'Description', el('input', { maxlength: 256 }), {});
  const [wa, acts] = field('ak-new-actions', 'Actions', el('input', { spellcheck: 'false', placeholder: '*' }),
    { hint: 'Comma-separated API actions (DescribeInstances,InvokeCommand), or empty for every one.' });
  const [wi, insts] = field('ak-new-instances', 'Instances', el('input', { spellcheck: 'false', placeholder: '*' }),
    { hint: 'Instance ids or patterns on id and name (web-*), or empty for every one.' });
  const [wu, users] = field('ak-new-users', 'Users', el('input', { spellcheck: 'false', placeholder: '*' }),
    { hint: 'Login and run-as users (alice,deploy), or empty for every one.' });
  const submit = el('button', { type: 'submit', id: 'ak-new-submit' }, 'Create AccessKey');
  const out = el('div', { id: 'ak-new-result' });
  form.append(wd, wa, wi, wu, el('div', { class: 'actions' }, submit,
    el('button', { type: 'button', class: 'secondary', on: { click: closePanel } }, 'Cancel')),
  el('p', { class: 'field-error', id: 'ak-new-error', role: 'alert' }));
  p.append(form, out);
  desc.focus();
  const fields = { Description: 'ak-new-description', Actions: 'ak-new-actions', Instances: 'ak-new-instances', Users: 'ak-new-users' };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    Object.values(fields).forEach((f) => fieldError(f, ''));
    $('ak-new-error').textContent = '';
    const req = { Description: desc.value };
    for (const [k, input] of [['Actions', acts], ['Instances', insts], ['Users', users]]) {
      const val = input.value.split(',').map((x) => x.trim()).filter(Boolean).join(',');
      if (val) req[k] = val;
    }
    submit.disabled = true;
    const r = await keysCall('CreateAccessKey', req);
    submit.disabled = false;
    if (!r.ok) {
      if (fields[r.body.Field]) fieldError(fields[r.body.Field], errText(r.body));
      else $('ak-new-error').textContent = errText(r.body);
      return;
    }
    form.hidden = true;
    let secret = r.body.AccessKeySecret;
    out.append(el('div', { class: 'note warn', role: 'alert' },
      el('p', {}, el('strong', {}, 'Copy the secret now: it is shown only this once and cannot be read again.'),
        ' Keep it as you would a password; anyone holding it acts with this key\'s policy.'),
      el('dl', { class: 'kv' },
        el('dt', {}, 'AccessKey ID'), el('dd', { class: 'mono', id: 'ak-new-id' }, r.body.AccessKeyId),
        el('dt', {}, 'AccessKey secret'), el('dd', { class: 'mono', id: 'ak-new-secret' }, secret)),
      el('div', { class: 'actions' }, copyButton('ak-new-copy', 'Copy secret', () => secret),
        el('button', { type: 'button', id: 'ak-new-done', on: { click: () => { secret = ''; closePanel(); route(); } } }, 'Done'))));
    $('ak-new-copy').focus();
  });
}

/* A button that copies text() to the clipboard and says so. */
function copyButton(id, label, text) {
  const b = el('button', { type: 'button', class: 'secondary', id }, label);
  b.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(text()); b.textContent = 'Copied'; } catch (e) { b.textContent = 'Copy failed: select it'; }
  });
  return b;
}

/* ------------------------------------------------------------------ */
/* Settings */

async function pageSettings() {
  const v = view('Settings');
  v.append(el('h2', {}, 'Session management'));
  const sw = el('input', { type: 'checkbox', id: 'session-manager', disabled: true });
  const msg = el('p', { class: 'field-error', id: 'session-manager-error', role: 'alert' });
  const note = el('p', { class: 'muted', id: 'session-manager-state', 'aria-live': 'polite' }, 'Loading…');
  sw.setAttribute('aria-describedby', 'session-manager-error session-manager-state');
  v.append(el('label', { class: 'switch', for: 'session-manager' }, sw, 'Session Manager enabled'), note, msg,
    el('p', { class: 'muted' }, 'When enabled, users may open sessions to instances by id (latchkey proxy) without an open SSH port.'));
  const r = await api('DescribeCloudAssistantSettings', { 'SettingType.1': 'SessionManagerConfig' });
  if (!r.ok) {
    note.textContent = r.body.Code === 'InvalidAction.NotFound' ? 'This latchkeyd has no session management yet.' : '';
    if (r.body.Code !== 'InvalidAction.NotFound') msg.textContent = errText(r.body);
  } else {
    const cfg = r.body.SessionManagerConfig || {};
    sw.checked = cfg.SessionManagerEnabled === true || cfg.SessionManagerEnabled === 'true';
    sw.disabled = false;
    note.textContent = sw.checked ? 'Enabled.' : 'Disabled.';
    sw.addEventListener('change', async () => {
      sw.disabled = true;
      msg.textContent = '';
      const m = await api('ModifyCloudAssistantSettings', { SettingType: 'SessionManagerConfig',
        SessionManagerConfig: JSON.stringify({ SessionManagerEnabled: sw.checked }) });
      sw.disabled = false;
      if (!m.ok) { sw.checked = !sw.checked; msg.textContent = errText(m.body); }
      note.textContent = sw.checked ? 'Enabled.' : 'Disabled.';
    });
  }
  v.append(el('h2', {}, 'Instance Connect plug-in'),
    el('p', {}, 'Sending SSH keys needs the plug-in on each server. Install it as root on the server:'),
    el('pre', { id: 'settings-plugin-install' }, PLUGIN_INSTALL),
    el('p', {}, 'or run the common command ACS-ECS-InstallPlugin-linux.sh on the instances.'),
    el('h2', {}, 'You'),
    el('dl', { class: 'kv' },
      el('dt', {}, 'Signed in as'), el('dd', {}, (state.who.Kind === 'operator' ? 'operator ' : 'AccessKey ') + state.who.Principal),
      el('dt', {}, 'Region'), el('dd', {}, state.who.RegionId)));
}

/* ------------------------------------------------------------------ */

async function start() {
  $('signin-form').addEventListener('submit', signin);
  $('signout').addEventListener('click', signout);
  for (const r of document.querySelectorAll('input[name=kind]')) {
    r.addEventListener('change', () => {
      const op = signinKind() === 'operator';
      $('signin-key').hidden = op;
      $('signin-operator').hidden = !op;
      $('signin-error').textContent = '';
    });
  }
  window.addEventListener('hashchange', route);
  // api() throws 'signed out' to stop a page that lost its session: expected.
  window.addEventListener('unhandledrejection', (e) => {
    if (e.reason && e.reason.message === 'signed out') e.preventDefault();
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closePanel(); });
  let r;
  try {
    const res = await fetch('api/session', { credentials: 'same-origin', cache: 'no-store' });
    r = { ok: res.ok, body: await res.json() };
  } catch (e) { r = { ok: false, body: {} }; }
  if (r.ok) showApp(r.body);
  else showSignin('');
}

document.addEventListener('DOMContentLoaded', start);
