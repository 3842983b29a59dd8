import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { arg, join, sh } from '../../src/shell/build.js';
import { fillRefs } from '../../src/shell/fill.js';
import { quotedHole } from '../../src/shell/quote-state.js';
import { shellQuote } from '../../src/shell/quote.js';
import { renderShell, showShell } from '../../src/shell/render.js';
import { wireShell } from '../../src/shell/wire.js';
import { renderShellTemplate, renderText, renderValue } from '../../src/template/render.js';

const none = () => {
  throw new Error('no holes here');
};
const bash = (cmd: string) => execFileSync('bash', [], { input: cmd, encoding: 'utf8' });

/** Deterministic generator (xorshift) of hostile strings: quotes, $( ), backticks, ;|&*, newlines, spaces, leading -, unicode. */
function hostile(n: number, seed = 7): string[] {
  const atoms = ["'", '"', '$(', ')', '`', ';', '|', '&', '*', '\n', ' ', '-', '\\', '$HOME', '$' + '{x}', '!', '#', '~', '>', '<', 'é', '日本', '🙂', 'a', 'Z', '9', '\t', "'\"'", '$((1+1))', '%s', '{{', '}}', '--rm'];
  let x = seed;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return Math.abs(x);
  };
  return Array.from({ length: n }, () => Array.from({ length: 1 + (next() % 8) }, () => atoms[next() % atoms.length]).join(''));
}

describe('commands as data, quoted in one place', () => {
  // were a quoting regression to let one of these run, all it could do is leave a file in a temp dir of its own
  const mark = mkdtempSync(joinPath(tmpdir(), 'rb-render-mark-'));
  afterAll(() => rmSync(mark, { recursive: true, force: true }));
  const nasty = ['; touch "$MARK/semicolon"', '$(touch "$MARK/subshell")', '`touch "$MARK/backtick"`', '&& touch "$MARK/and" #', '| tee "$MARK/pipe"', '> "$MARK/redirect"', "it's", 'a b', '', '*', '\n', '"$HOME"', '-n', '🙂 é'];
  it.each(nasty)('%j reaches the command as exactly one literal word', (value) => {
    // the command counts its words: an empty value dropped, or a value split or run, shows in the count
    const cmd = renderShellTemplate('words() { printf "%s|" "$#" "$@"; }; words {{ vars.v }}', { vars: { v: value } }, {});
    expect(execFileSync('bash', [], { input: renderShell(cmd, none), encoding: 'utf8', env: { ...process.env, MARK: mark } })).toBe(`1|${value}|`);
    expect(readdirSync(mark)).toEqual([]);
  });

  it.each([
    ['safe/path-1.2', 'safe/path-1.2'],
    ['has space', "'has space'"],
    ["it's", `'it'"'"'s'`],
  ])('shellQuote(%j) = %s', (v, want) => expect(shellQuote(v)).toBe(want));

  it('| raw interpolates a plan-time value as syntax, only when asked for', () => {
    expect(showShell(renderShellTemplate('echo {{ vars.v | raw }}', { vars: { v: 'a && b' } }, {}))).toBe('echo a && b');
    expect(showShell(renderShellTemplate('echo {{ vars.v }}', { vars: { v: 'a && b' } }, {}))).toBe("echo 'a && b'");
    expect(() => renderShellTemplate('echo {{ r.stdout | raw }}', {}, { runtime: new Set(['r']) })).toThrow(/raw text must be known when planning/);
  });

  it.each([
    [`echo "v: {{ vars.x }}"`, /inside double quotes/],
    [`echo '{{ vars.x }}'`, /inside single quotes/],
    ['echo `{{ vars.x }}`', /inside backticks/],
    ['cat <<EOF\n{{ vars.x }}\nEOF', /here-document/],
  ])('a value inside the author\'s own quotes is refused: %j', (template, why) => {
    expect(() => renderShellTemplate(template, { vars: { x: '$(touch /tmp/pwned) a' } }, {})).toThrow(why);
    expect(quotedHole(template)).toMatch(why);
  });

  it.each([['echo "v: "{{ vars.x }}'], ["echo 'it''s' {{ vars.x }}"], ['echo \\"{{ vars.x }}']])('quotes that are closed before the value are fine: %j', (template) => {
    expect(quotedHole(template)).toBeUndefined();
    const out = bash(renderShell(renderShellTemplate(template, { vars: { x: '$(echo pwned)' } }, {}), none));
    expect(out).toContain('$(echo pwned)');
    expect(out.replace('$(echo pwned)', '')).not.toContain('pwned');
  });

  it('text mode keeps values as they are; a lone expression keeps its type', () => {
    expect(renderText('{{ vars.v }}/x', { vars: { v: 'a b' } }, {})).toBe('a b/x');
    expect(renderValue('{{ vars.list }}', { vars: { list: [1, 2] } }, {})).toEqual([1, 2]);
  });

  it('a run-time value is a typed hole, shown by name, filled by the run as one quoted word', () => {
    expect(() => renderShellTemplate('{{ res.stdout }}', {}, {})).toThrow(/'res.stdout' is not defined/);
    const cmd = renderShellTemplate('printf %s {{ res.stdout }}', {}, { runtime: new Set(['res']) });
    expect(cmd).toEqual({ sh: [{ lit: 'printf %s ' }, { word: [{ ref: 'res.stdout' }] }] });
    expect(showShell(cmd)).toBe("printf %s '<res.stdout>'");
    const filled = fillRefs(cmd, () => "a'b; $(id)", { keepSecrets: true });
    expect(bash(renderShell(filled, none))).toBe("a'b; $(id)");
  });

  it('a secret is a reference in every view; only the executed text has its value', () => {
    const cmd = renderShellTemplate('printf %s {{ vars.pw }}', { vars: {} }, { secrets: new Set(['pw']) });
    expect(showShell(cmd)).toBe("printf %s '<secret: vars.pw>'");
    const kept = fillRefs(cmd, () => 'hunter2', { keepSecrets: true });
    expect(JSON.stringify(kept)).not.toContain('hunter2');
    expect(bash(renderShell(fillRefs(cmd, () => "hun'ter2", { keepSecrets: false }), none))).toBe("hun'ter2");
  });

  it('nested commands (trap, bash -c, sudo, timeout) are built as data: a path with a space stays one path', () => {
    const dir = '/tmp/etcd runbook';
    const cleanup = sh`echo rm -rf -- ${dir}`;
    const cmd = join([sh`trap ${arg(cleanup)} EXIT`, sh`true`], '; ');
    expect(bash(renderShell(cmd, none))).toBe('rm -rf -- /tmp/etcd runbook\n');
    const wired = wireShell({ kind: 'exec', cmd: sh`printf %s ${"it's $(x)"}`, timeoutS: 5, sudo: true });
    expect(showShell(wired)).toBe(`sudo -n -- timeout -k 10 5 bash -c 'printf %s '"'"'it'"'"'"'"'"'"'"'"'s $(x)'"'"''`);
    const local = wireShell({ kind: 'exec', cmd: sh`printf %s ${"it's $(x)"}`, timeoutS: 5 });
    expect(bash(renderShell(local, none))).toBe("it's $(x)");
  });

  it('1000 generated hostile values, in every shell position, reach bash literally (nested twice, too)', () => {
    const values = hostile(1000);
    expect(new Set(values).size).toBeGreaterThan(900);
    // in chunks: one argument of bash -c may not exceed the kernel's 128 KiB
    for (let at = 0; at < values.length; at += 100) {
      const chunk = values.slice(at, at + 100);
      const script = join(
        chunk.map((v, i) => sh`printf '%s\\0' ${v}${i % 2 ? sh` ${`${v}x`}` : sh``}`),
        '; ',
      );
      const nested = sh`bash -c ${arg(sh`bash -c ${arg(script)}`)}`;
      const out = bash(renderShell(nested, none)).split('\0');
      expect(out.slice(0, -1)).toEqual(chunk.flatMap((v, i) => (i % 2 ? [v, `${v}x`] : [v])));
    }
  });
});
