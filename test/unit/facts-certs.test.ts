// Whether a host's certificate is for client authentication is read on this machine from the PEM the facts
// command prints: certificates only, never a key that shares the file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { certificateUse, factsCommand, type FactPaths, parseDump } from '../../src/facts/host-etcd.js';
import { renderShell } from '../../src/shell/render.js';

const dir = mkdtempSync(join(tmpdir(), 'facts-certs-'));

/** A self-signed certificate with the given extendedKeyUsage (none: no extension); its key next to it. */
function cert(name: string, eku: string | undefined): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `[v3]\nbasicConstraints=CA:FALSE\n${eku ? `extendedKeyUsage=${eku}\n` : ''}`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', `/CN=${name}`, '-extensions', 'v3', '-config', ext], { stdio: 'ignore' });
  return { crt, key };
}

describe('certificate use, from PEM', () => {
  const client = cert('healthcheck-client', 'clientAuth');
  const both = cert('peer', 'serverAuth,clientAuth');
  const server = cert('server', 'serverAuth');
  const plain = cert('ca', undefined);
  const pem = (f: string) => execFileSync('cat', [f], { encoding: 'utf8' });

  it.each([
    [client.crt, 'client'],
    [both.crt, 'client'],
    [server.crt, 'noclient'],
    [plain.crt, 'noclient'],
  ] as const)('%s: %s', (f, want) => expect(certificateUse(pem(f))).toBe(want));

  it('no certificate in it, or a broken one: unknown', () => {
    expect(certificateUse('')).toBe('unknown');
    expect(certificateUse('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toBe('unknown');
  });

  it('the facts command prints the certificates of a file that also holds a key, never the key; the parse says client', () => {
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, `${pem(client.key)}${pem(client.crt)}`);
    // a certificate written with CRLF line ends (edited on Windows) is read all the same
    const crlf = join(dir, 'crlf.crt');
    writeFileSync(crlf, pem(client.crt).replaceAll('\n', '\r\n'));
    const p: FactPaths = { manifest: join(dir, 'none.yaml'), stashedManifest: join(dir, 'none2.yaml'), apiserverManifest: join(dir, 'a.yaml'), controllerManagerManifest: join(dir, 'c.yaml'), schedulerManifest: join(dir, 's.yaml'), unit: 'etcd.service', unitFile: undefined, apiserverUnit: 'kube-apiserver.service', apiserverUnitFile: undefined, controllerManagerUnit: 'kcm.service', schedulerUnit: 'ks.service', certs: [bundle, server.crt, client.key, join(dir, 'missing.crt'), crlf], unitDirs: [join(dir, 'units')] };
    const out = execFileSync('bash', ['-c', renderShell(factsCommand(p), () => '')], { encoding: 'utf8' });
    expect(out).not.toMatch(/PRIVATE KEY/);
    const dump = parseDump(out);
    expect(dump.certs.get(bundle)).toEqual({ exists: true, use: 'client' });
    expect(dump.certs.get(server.crt)).toEqual({ exists: true, use: 'noclient' });
    expect(dump.certs.get(client.key)).toEqual({ exists: true, use: 'key' });
    expect(dump.certs.get(join(dir, 'missing.crt'))).toEqual({ exists: false, use: '-' });
    expect(dump.certs.get(crlf)).toEqual({ exists: true, use: 'client' });
  });
});
