/**
 * Set or remove command-line flags in a kubeadm static-pod manifest or a systemd unit's ExecStart,
 * keeping every other byte of the file as it was. Pure.
 */

export interface FlagEdit {
  flag: string;
  /**
   * New value; `null` removes the flag; `true` sets a bare flag (--force-new-cluster); `{ fact }` takes
   * the value from an earlier command of the same step (e.g. the initial cluster member add printed).
   */
  value: string | true | null | { fact: string };
}

export type ManifestStyle = 'static-pod' | 'systemd';

export type EditResult = { ok: true; text: string; changed: boolean } | { ok: false; message: string };

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Concrete = { flag: string; value: string | true | null };

function editStaticPod(text: string, e: Concrete): EditResult {
  const lines = text.split('\n');
  const flagLine = new RegExp(`^(\\s*)-\\s+(['"]?)${esc(e.flag)}(=[^'"]*)?\\2\\s*$`);
  const idx = lines.findIndex((l) => flagLine.test(l));
  const rendered = e.value === true ? e.flag : `${e.flag}=${e.value}`;
  if (e.value === null) {
    if (idx < 0) return { ok: true, text, changed: false };
    lines.splice(idx, 1);
    return { ok: true, text: lines.join('\n'), changed: true };
  }
  if (idx >= 0) {
    const indent = /^(\s*)-/.exec(lines[idx] ?? '')?.[1] ?? '';
    const next = `${indent}- ${rendered}`;
    const changed = lines[idx] !== next;
    lines[idx] = next;
    return { ok: true, text: lines.join('\n'), changed };
  }
  // insert after the last flag of the first command list
  let last = -1;
  for (let i = 0; i < lines.length; i++) if (/^\s*-\s+['"]?--/.test(lines[i] ?? '')) last = i;
  if (last < 0) return { ok: false, message: 'no command-line flags found in the manifest (expected kubeadm\'s "- --flag=value" list)' };
  const indent = /^(\s*)-/.exec(lines[last] ?? '')?.[1] ?? '';
  lines.splice(last + 1, 0, `${indent}- ${rendered}`);
  return { ok: true, text: lines.join('\n'), changed: true };
}

function editSystemd(text: string, e: Concrete): EditResult {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^ExecStart=/.test(l));
  if (start < 0) return { ok: false, message: 'no ExecStart= line in the unit file' };
  let end = start;
  while (end < lines.length - 1 && /\\\s*$/.test(lines[end] ?? '')) end++;
  const token = new RegExp(`(^|\\s)${esc(e.flag)}(=\\S*)?(?=\\s|$)`);
  const rendered = e.value === true ? e.flag : `${e.flag}=${e.value}`;
  for (let i = start; i <= end; i++) {
    const l = lines[i] ?? '';
    if (!token.test(l)) continue;
    if (e.value === null) {
      const next = l.replace(token, '$1').replace(/\s+(\\?)\s*$/, (_m, bs: string) => (bs ? ` ${bs}` : ''));
      if (/^\s*\\?\s*$/.test(next) && i !== start) lines.splice(i, 1);
      else lines[i] = next.replace(/\s{2,}\\$/, ' \\');
      return { ok: true, text: lines.join('\n'), changed: true };
    }
    const next = l.replace(token, `$1${rendered}`);
    const changed = next !== l;
    lines[i] = next;
    return { ok: true, text: lines.join('\n'), changed };
  }
  if (e.value === null) return { ok: true, text, changed: false };
  const first = lines[start] ?? '';
  if (/\\\s*$/.test(first)) lines.splice(start + 1, 0, `  ${rendered} \\`);
  else lines[start] = `${first} ${rendered}`;
  return { ok: true, text: lines.join('\n'), changed: true };
}

export function editFlags(text: string, style: ManifestStyle, edits: FlagEdit[]): EditResult {
  let cur = text;
  let changed = false;
  for (const e of edits) {
    if (!/^--[a-z0-9][a-z0-9-]*$/.test(e.flag)) return { ok: false, message: `'${e.flag}' is not a flag (expected --name)` };
    const v = e.value;
    if (v !== null && typeof v === 'object') return { ok: false, message: `${e.flag}: value from '${v.fact}' was never resolved` };
    const r = style === 'static-pod' ? editStaticPod(cur, { flag: e.flag, value: v }) : editSystemd(cur, { flag: e.flag, value: v });
    if (!r.ok) return r;
    cur = r.text;
    changed ||= r.changed;
  }
  return { ok: true, text: cur, changed };
}

/** The value of a flag in a manifest or unit, for checks ("no manifest left with --force-new-cluster"). */
export function readFlag(text: string, flag: string): string | true | undefined {
  const m = new RegExp(`(?:^|\\s|-\\s+['"]?)${esc(flag)}(?:=([^\\s'"]*))?(?=['"]?(?:\\s|$))`, 'm').exec(text);
  if (!m) return undefined;
  return m[1] === undefined ? true : m[1];
}

export function describeEdits(edits: FlagEdit[]): string {
  return edits
    .map((e) => (e.value === null ? `remove ${e.flag}` : e.value === true ? `add ${e.flag}` : typeof e.value === 'object' ? `set ${e.flag}=<${e.value.fact} from this step>` : `set ${e.flag}=${e.value}`))
    .join(', ');
}
