'use strict';
// A node:test reporter that prints flat TAP for tests/run: one
// "ok N - file: suite > test" or "not ok N - ..." line per test that
// actually ran, and nothing else that starts with "ok"/"not ok".
//
// * Suites, and tests that only group subtests, print no line of their
//   own: their leaves do. A suite or file that fails for a reason of its
//   own (a hook, a syntax error, a crash) prints one "not ok".
// * A skipped or todo test prints "# SKIP ..." and is counted neither as
//   passed nor as failed.
// * Test output and failure details are printed as "# " comment lines.
//
// LK_TAP_START (a number) continues the numbering of the calling shell
// script; LK_TAP_COUNTS (a file) receives "LAST_NUMBER FAILURES" at the end.

const fs = require('node:fs');
const path = require('node:path');
const { inspect } = require('node:util');

function comment(text, max = 40) {
  const lines = String(text).replace(/\n+$/, '').split('\n');
  if (lines.length > max) lines.splice(max, lines.length - max, '...');
  return lines.map((l) => `# ${l}\n`).join('');
}

module.exports = async function* flatTap(source) {
  let n = Number(process.env.LK_TAP_START || 0);
  let failed = 0;
  let skipped = 0;
  const stack = []; // per nesting level: {name, hasChildren}

  function label(data) {
    const names = stack.slice(0, data.nesting).map((s) => s.name);
    names.push(data.name);
    const file = data.file ? path.basename(data.file) : '';
    // A file-level entry is named by its path already.
    if (names.length === 1 && data.file && data.name === data.file) return file;
    return `${file}: ${names.join(' > ')}`.replace(/[\r\n]+/g, ' ');
  }

  for await (const ev of source) {
    const d = ev.data || {};
    switch (ev.type) {
      case 'test:start':
        if (d.nesting > 0 && stack[d.nesting - 1]) stack[d.nesting - 1].hasChildren = true;
        stack[d.nesting] = { name: d.name, hasChildren: false };
        stack.length = d.nesting + 1;
        break;
      case 'test:pass': {
        const me = stack[d.nesting] || { hasChildren: false };
        if (d.skip !== undefined || d.todo !== undefined) {
          skipped++;
          const why = d.skip !== undefined ? d.skip : d.todo;
          yield `# SKIP ${label(d)}${typeof why === 'string' ? ': ' + why : ''} (not counted as passed)\n`;
        } else if (!me.hasChildren && !(d.details && d.details.type === 'suite')) {
          n++;
          yield `ok ${n} - ${label(d)}\n`;
        }
        break;
      }
      case 'test:fail': {
        const err = d.details && d.details.error;
        const kind = err && err.failureType;
        if (kind === 'subtestsFailed') break;
        n++;
        failed++;
        yield `not ok ${n} - ${label(d)}${kind && kind !== 'testCodeFailure' ? ` (${kind})` : ''}\n`;
        if (err) {
          const cause = err.cause || err;
          yield comment(cause && cause.stack ? cause.stack :
            inspect(cause, { depth: 4 }), 14);
        }
        break;
      }
      case 'test:stdout':
      case 'test:stderr':
        if (d.message) yield comment(d.message);
        break;
      case 'test:diagnostic':
        if (d.message && d.nesting === 0 && !/^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(d.message)) {
          yield comment(d.message);
        }
        break;
      default:
        break;
    }
  }
  yield `# sdk tests: ${n - Number(process.env.LK_TAP_START || 0)} run, ${failed} failed, ${skipped} skipped\n`;
  if (process.env.LK_TAP_COUNTS) fs.writeFileSync(process.env.LK_TAP_COUNTS, `${n} ${failed}\n`);
};
