/*
 * latchkey console: the terminal page's client end of a shell session
 * (docs/console.md, "Terminal"; docs/sessions.md, "Shell sessions").
 *
 * The page asks POST /console/api/terminal (with the CSRF token) for a
 * shell session as the signed-in principal and gets a TerminalUrl, a
 * one-time path under /console/terminal that only this console session
 * may dial from this origin. It dials it and speaks the resumable
 * stream's protocol (lib/stream.h) as the client end:
 *
 *   - on open: text "hello 0" (nothing received yet); no data is sent
 *     before the agent's "hello N" (N is 0: this page never resumes);
 *   - binary messages are the terminal's bytes, both ways; what arrives
 *     is acknowledged with "ack N" every ACK_EVERY bytes and, otherwise,
 *     ACK_IDLE_MS after the last data (the agent sends at most its
 *     window, 4 MiB, unacknowledged);
 *   - "winch C R" when the page's size in cells changes (window resize);
 *   - the agent's "exit N" / "exit signal NAME" is shown, and on its
 *     "eof N" the page ends its own stream ("eof <bytes sent>"); the
 *     agent then closes with 1000;
 *   - "ack N" from the agent only drops what this page keeps for a
 *     resume: it keeps nothing (a lost connection ends the page's
 *     session; the page offers to start a new one).
 *
 * xterm.js (Debian's, bundled by tools/jsbundle.sh and embedded in
 * latchkeyd) is loaded on the first terminal page. Copy and paste:
 * selecting copies with Ctrl+Shift+C (or the Copy button), Ctrl+Shift+V
 * or the Paste button pastes; the browser's own paste (Shift+Insert,
 * the context menu) works too.
 */
'use strict';

const LkTerminal = (() => {
  const ACK_EVERY = 64 * 1024;
  const ACK_IDLE_MS = 200;
  const enc = new TextEncoder();
  let loading = null;

  /* xterm.js and its style sheet, once. */
  function loadXterm() {
    if (loading) return loading;
    loading = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = 'static/xterm.css';
      document.head.append(css);
      const s = document.createElement('script');
      s.src = 'static/xterm.js';
      s.onload = () => resolve(window.xterm);
      s.onerror = () => { loading = null; reject(new Error('xterm.js could not be loaded')); };
      document.head.append(s);
    });
    return loading;
  }

  /* The cells that fit box (what addons/fit computes). */
  function fitSize(term, box) {
    const d = term._core.renderer.dimensions;
    const sb = term._core.viewport ? term._core.viewport.scrollBarWidth : 0;
    if (!d || !d.actualCellWidth || !d.actualCellHeight) return null;
    const cols = Math.floor((box.clientWidth - sb) / d.actualCellWidth);
    const rows = Math.floor(box.clientHeight / d.actualCellHeight);
    return { cols: Math.max(2, Math.min(1000, cols)), rows: Math.max(1, Math.min(1000, rows)) };
  }

  /*
   * Opens a terminal in box for a session started with start(cols, rows),
   * an async function answering { ok, body } (body.TerminalUrl or the
   * error). onStatus(text, ended) reports progress. Returns a handle with
   * close() and text() (the screen and scrollback, for tests).
   */
  async function open(box, start, onStatus) {
    const xterm = await loadXterm();
    const term = new xterm.Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace' });
    term.open(box);
    let size = fitSize(term, box) || { cols: 80, rows: 24 };
    let onResize = null, resizeTimer = 0;
    function cleanup() {
      if (onResize) window.removeEventListener('resize', onResize);
      clearTimeout(resizeTimer);
    }
    term.resize(size.cols, size.rows);
    const h = {
      term, ws: null, closed: false,
      text() {
        const b = term._core.buffer, out = [];
        for (let i = 0; i < b.lines.length; i++) out.push(b.translateBufferLineToString(i, true));
        return out.join('\n');
      },
      close() { this.closed = true; if (this.ws) this.ws.close(1000, 'closed by the user'); cleanup(); },
    };

    const r = await start(size.cols, size.rows);
    if (!r.ok) { onStatus(r.body, true); return h; }
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + r.body.TerminalUrl;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    h.ws = ws;
    const dec = new TextDecoder('utf-8');
    let recvd = 0, acked = 0, sent = 0, peerHello = false, ourEof = false, ackTimer = 0, exit = '';
    const pending = [];

    function ack() {
      clearTimeout(ackTimer);
      ackTimer = 0;
      if (recvd > acked && ws.readyState === WebSocket.OPEN) { ws.send('ack ' + recvd); acked = recvd; }
    }
    function sendData(bytes) {
      if (ourEof || !bytes.length) return;
      if (!peerHello) { pending.push(bytes); return; }
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(bytes);
      sent += bytes.length;
    }
    function winch() {
      const s = fitSize(term, box);
      if (!s) return;
      if (s.cols !== term.cols || s.rows !== term.rows) term.resize(s.cols, s.rows);
      if (s.cols === size.cols && s.rows === size.rows) return;
      size = s;
      if (peerHello && !ourEof && ws.readyState === WebSocket.OPEN) ws.send('winch ' + s.cols + ' ' + s.rows);
    }
    function onControl(msg) {
      const m = /^(hello|ack|eof|exit) (.+)$/.exec(msg);
      if (!m) return false;
      if (m[1] === 'hello') {
        if (m[2] !== '0' || peerHello) return false;
        peerHello = true;
        for (const b of pending.splice(0)) sendData(b);
        winch();
        onStatus('Connected.', false);
      } else if (m[1] === 'ack') {
        if (!/^(0|[1-9][0-9]*)$/.test(m[2]) || Number(m[2]) > sent) return false;
      } else if (m[1] === 'exit') {
        exit = m[2].startsWith('signal ') ? 'killed by SIG' + m[2].slice(7) : 'exit status ' + m[2];
      } else {
        if (Number(m[2]) !== recvd) return false;
        ack();
        if (!ourEof) { ws.send('eof ' + sent); ourEof = true; }
      }
      return true;
    }
    ws.onopen = () => { ws.send('hello 0'); };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        if (!onControl(ev.data)) ws.close(1002, 'bad control message');
        return;
      }
      const bytes = new Uint8Array(ev.data);
      if (!peerHello) { ws.close(1002, 'data before hello'); return; }
      term.write(dec.decode(bytes, { stream: true }));
      recvd += bytes.length;
      if (recvd - acked >= ACK_EVERY) ack();
      else if (!ackTimer) ackTimer = setTimeout(ack, ACK_IDLE_MS);
    };
    ws.onclose = (ev) => {
      clearTimeout(ackTimer);
      cleanup();
      let why = ev.reason ? ev.reason + ' (' + ev.code + ')' : 'code ' + ev.code;
      if (ev.code === 1000) why = exit ? 'the shell ended: ' + exit : 'the session ended';
      else if (ev.code === 1006) why = 'the connection was refused or lost';
      if (!h.closed) onStatus('Disconnected: ' + why + '.', true);
      term.setOption('cursorBlink', false);
    };
    term.on('data', (d) => sendData(enc.encode(d)));
    term.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === 'KeyC') { copy(); return false; }
      if (e.code === 'KeyV') { paste(); return false; }
      return true;
    });
    function copy() {
      const t = term.getSelection();
      if (t && navigator.clipboard) navigator.clipboard.writeText(t).catch(() => {});
      term.focus();
    }
    function paste() {
      if (navigator.clipboard && navigator.clipboard.readText)
        navigator.clipboard.readText().then((t) => sendData(enc.encode(t)), () => {});
      term.focus();
    }
    h.copy = copy;
    h.paste = paste;
    onResize = () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(winch, 50); };
    window.addEventListener('resize', onResize);
    term.focus();
    return h;
  }

  /*
   * Replays an asciicast v2 recording (text) in box: the header's size,
   * "o" events written and "r" events resized at their times (a pause
   * longer than IDLE_MAX_S is cut to it, as asciinema -i does). Returns a
   * handle with skip() (everything at once), close() and text().
   */
  const IDLE_MAX_S = 2;
  async function replay(box, text, onStatus) {
    const lines = text.split('\n').filter((l) => l !== '');
    const head = JSON.parse(lines[0]);
    if (head.version !== 2) throw new Error('not an asciicast v2 recording');
    const events = lines.slice(1).map((l) => JSON.parse(l));
    const xterm = await loadXterm();
    const term = new xterm.Terminal({ cols: head.width, rows: head.height, scrollback: 5000, disableStdin: true,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace', fontSize: 14 });
    term.open(box);
    let i = 0, timer = 0, last = 0, done = false;
    const h = { closed: false };
    function play(e) {
      if (e[1] === 'o') term.write(e[2]);
      else if (e[1] === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(e[2]);
        if (m) term.resize(+m[1], +m[2]);
      }
    }
    function finish() {
      done = true;
      onStatus('Finished: ' + events.length + ' events, ' + (last ? last.toFixed(1) : '0') + ' s.');
    }
    function step() {
      timer = 0;
      if (h.closed) return;
      if (i >= events.length) { finish(); return; }
      const e = events[i++];
      play(e);
      const next = events[i];
      if (!next) { finish(); return; }
      const wait = Math.min(Math.max(next[0] - e[0], 0), IDLE_MAX_S);
      last = e[0];
      timer = setTimeout(step, wait * 1000);
    }
    h.skip = () => {
      clearTimeout(timer);
      while (i < events.length) { last = events[i][0]; play(events[i++]); }
      if (!done) finish();
    };
    h.close = () => { h.closed = true; clearTimeout(timer); term.dispose(); };
    h.text = () => {
      const b = term._core.buffer, out = [];
      for (let y = 0; y < b.lines.length; y++) out.push(b.translateBufferLineToString(y, true));
      return out.join('\n');
    };
    h.done = () => done;
    onStatus('Playing…');
    step();
    return h;
  }

  return { open, replay };
})();
