import { describe, expect, it } from 'vitest';
import { editFlags, readFlag } from '../../src/facts/manifest-edit.js';

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
spec:
  containers:
  - command:
    - etcd
    - --data-dir=/var/lib/etcd
    - --initial-cluster-state=new
    - --name=m1
    image: registry.k8s.io/etcd:3.4.23-0
    name: etcd
`;

const UNIT = `[Unit]
Description=etcd
[Service]
ExecStart=/usr/bin/etcd \\
  --name=m1 \\
  --data-dir=/var/lib/etcd \\
  --initial-cluster-state=new
Restart=always
`;

describe('editFlags (static pod)', () => {
  it.each([
    [{ flag: '--initial-cluster-state', value: 'existing' }, POD.replace('state=new', 'state=existing')],
    [{ flag: '--force-new-cluster', value: true }, POD.replace('    - --name=m1\n', '    - --name=m1\n    - --force-new-cluster\n')],
    [{ flag: '--initial-cluster-state', value: null }, POD.replace('    - --initial-cluster-state=new\n', '')],
    [{ flag: '--absent', value: null }, POD],
  ] as const)('%j', (edit, want) => {
    const r = editFlags(POD, 'static-pod', [edit]);
    expect(r).toMatchObject({ ok: true, text: want });
  });
  it('add then remove gives back the same bytes', () => {
    const a = editFlags(POD, 'static-pod', [{ flag: '--force-new-cluster', value: true }]);
    if (!a.ok) throw new Error(a.message);
    expect(readFlag(a.text, '--force-new-cluster')).toBe(true);
    const b = editFlags(a.text, 'static-pod', [{ flag: '--force-new-cluster', value: null }]);
    expect(b).toMatchObject({ ok: true, text: POD });
  });
});

describe('editFlags (systemd unit)', () => {
  it.each([
    [{ flag: '--initial-cluster-state', value: 'existing' }, UNIT.replace('state=new', 'state=existing')],
    [{ flag: '--force-new-cluster', value: true }, UNIT.replace('ExecStart=/usr/bin/etcd \\\n', 'ExecStart=/usr/bin/etcd \\\n  --force-new-cluster \\\n')],
    [{ flag: '--name', value: null }, UNIT.replace('  --name=m1 \\\n', '')],
  ] as const)('%j', (edit, want) => {
    expect(editFlags(UNIT, 'systemd', [edit])).toMatchObject({ ok: true, text: want });
  });
  it('reads flags', () => {
    expect(readFlag(UNIT, '--data-dir')).toBe('/var/lib/etcd');
    expect(readFlag(POD, '--name')).toBe('m1');
    expect(readFlag(POD, '--force-new-cluster')).toBeUndefined();
  });
});
