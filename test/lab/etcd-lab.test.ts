import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssh } from './ssh-run.js';
import { cachedEtcdVersions, type Lab, type LabNode, parseEtcdJson, resolveEtcdVersion, startLab } from './lab.js';
import { type LabS3, startS3 } from './s3.js';


function tcpOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    sock.setTimeout(1_000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 3_000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** PID (in the node's namespace) and start time (/proc/PID/stat field 22) of a pod, or null. */
async function podProc(lab: Lab, node: number, id: string): Promise<{ pid: number; start: string } | null> {
  const r = await lab.exec(
    node,
    `p=$(cat /run/pods/${id}.pid 2>/dev/null) || exit 3; s=$(cat /proc/$p/stat 2>/dev/null) || exit 4; s=\${s##*) }; set -- $s; echo "$p \${20}"`,
  );
  if (r.code !== 0) return null;
  const [pid, start] = r.stdout.trim().split(' ');
  return { pid: Number(pid), start: start ?? '' };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('etcd lab: static pods (kubeadm style)', () => {
  let lab: Lab;
  let node3: LabNode;

  beforeAll(async () => {
    const t0 = Date.now();
    lab = await startLab({ nodes: 3, etcd: 'static-pod' });
    console.log(`static-pod lab healthy in ${Date.now() - t0} ms`);
    node3 = lab.nodes[2] as LabNode;
  }, 40_000);

  afterAll(async () => {
    const t0 = Date.now();
    await lab?.stop();
    console.log(`static-pod lab stopped in ${Date.now() - t0} ms`);
  }, 30_000);

  it('comes up as one healthy 3-member cluster with one leader', async () => {
    const health = await lab.waitHealthy({ timeoutMs: 5_000 });
    expect(health.members.map((m) => m.name).sort()).toEqual(['master-1', 'master-2', 'master-3']);

    const list = await lab.etcdctl(0, ['member', 'list', '-w', 'json']);
    expect(list.code).toBe(0);
    const members = parseEtcdJson<{ header: { cluster_id: string }; members: Array<{ ID: string; name: string; clientURLs: string[] }> }>(list.stdout);
    expect(members.members).toHaveLength(3);
    expect(members.members.flatMap((m) => m.clientURLs).sort()).toEqual([...lab.etcdEndpoints].sort());
    expect(typeof members.header.cluster_id).toBe('string'); // 64-bit ID kept exact

    const st = await lab.etcdctl(1, ['endpoint', 'status', '--cluster', '-w', 'json']);
    expect(st.code).toBe(0);
    const status = parseEtcdJson<Array<{ Endpoint: string; Status: { header: { cluster_id: string; member_id: string }; leader: string; version: string } }>>(st.stdout);
    expect(status).toHaveLength(3);
    expect(new Set(status.map((s) => s.Status.header.cluster_id)).size).toBe(1);
    expect(new Set(status.map((s) => s.Status.leader)).size).toBe(1);
    expect(status.filter((s) => s.Status.header.member_id === s.Status.leader)).toHaveLength(1);
    expect(status[0]?.Status.version).toBe('3.4.23');
    expect(health.clusterId).toBe(BigInt(members.header.cluster_id).toString(16));
  });

  it('has kubeadm-named certificates with the node address in the SANs', async () => {
    const r = await lab.exec(
      2,
      `cd /etc/kubernetes/pki && ls etcd apiserver-etcd-client.* | sort | tr '\\n' ' ' && echo && ` +
        'openssl x509 -in etcd/server.crt -noout -ext subjectAltName,extendedKeyUsage && ' +
        'openssl verify -CAfile etcd/ca.crt etcd/server.crt etcd/peer.crt etcd/healthcheck-client.crt apiserver-etcd-client.crt && ' +
        'openssl x509 -in etcd/healthcheck-client.crt -noout -ext extendedKeyUsage && stat -c %a etcd/server.key',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'peer.crt', 'peer.key', 'healthcheck-client.crt', 'healthcheck-client.key', 'apiserver-etcd-client.crt']) {
      expect(r.stdout).toContain(f);
    }
    expect(r.stdout).toContain(`IP Address:${node3.address}`);
    expect(r.stdout).toContain('IP Address:127.0.0.1');
    expect(r.stdout).toContain('DNS:master-3');
    expect(r.stdout).toContain('DNS:localhost');
    expect(r.stdout).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('600');
    expect(lab.pki.healthcheckClientCert).toBe('/etc/kubernetes/pki/etcd/healthcheck-client.crt');
    const manifest = await lab.exec(0, 'cat /etc/kubernetes/manifests/etcd.yaml');
    expect(manifest.stdout).toContain(`- --initial-cluster-token=${lab.clusterToken}`);
    expect(manifest.stdout).not.toContain('127.0.0.1:2379');
  });

  it('replicates put/get between members', async () => {
    const value = randomBytes(8).toString('hex');
    const put = await lab.etcdctl(0, ['put', '/lab/test', value], { endpoints: 'all' });
    expect(put.stdout.trim()).toBe('OK');
    const get = await lab.etcdctl(2, ['get', '/lab/test', '--print-value-only']);
    expect(get.code).toBe(0);
    expect(get.stdout.trim()).toBe(value);
  });

  it('serves kube-apiserver /readyz = 200 on every node', async () => {
    for (const n of lab.nodes) {
      const r = await httpGet(`${lab.apiserverUrl(n)}/readyz`);
      expect(r).toEqual({ status: 200, body: 'ok' });
    }
  });

  it('stops etcd when its manifest is moved out and starts it when it is moved back', async () => {
    const others = await Promise.all([podProc(lab, 0, 'etcd'), podProc(lab, 1, 'etcd')]);
    expect(others.every((p) => p !== null)).toBe(true);
    const mv = await lab.exec(2, 'mv /etc/kubernetes/manifests/etcd.yaml /root/');
    expect(mv.code).toBe(0);
    await waitFor('etcd on master-3 to stop', async () => !(await tcpOpen(node3.address, 2379)) && (await podProc(lab, 2, 'etcd')) === null, 8_000);
    expect((await lab.exec(2, 'test -e /run/pods/etcd.pid')).code).toBe(1);
    expect((await lab.exec(2, 'pgrep -x etcd || echo none')).stdout.trim()).toBe('none');
    // its apiserver talks to the local member only (kubeadm): not ready now
    await waitFor('master-3 apiserver to be unready', async () => (await httpGet(`${lab.apiserverUrl(2)}/readyz`)).status === 500, 5_000);

    expect((await lab.exec(2, 'mv /root/etcd.yaml /etc/kubernetes/manifests/')).code).toBe(0);
    await lab.waitHealthy({ timeoutMs: 15_000 });
    expect(await podProc(lab, 2, 'etcd')).not.toBeNull();
    // the other members were never restarted
    expect(await Promise.all([podProc(lab, 0, 'etcd'), podProc(lab, 1, 'etcd')])).toEqual(others);
  }, 30_000);

  it('runs a stray etcd.yaml.bak in the manifest dir as a second pod', async () => {
    const before = await podProc(lab, 0, 'etcd');
    await lab.exec(0, 'cp /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/manifests/etcd.yaml.bak');
    // it crash-loops on the ports the real one holds, as on a real host
    await waitFor(
      'the duplicate pod to start and fail',
      async () => /restarts=[1-9]/.test((await lab.exec(0, 'cat /run/pods/etcd_etcd.yaml.bak.status')).stdout),
      5_000,
    );
    const log = await lab.exec(0, 'cat /var/log/pods/etcd_etcd.yaml.bak.log');
    expect(log.stdout).toMatch(/address already in use/);
    await lab.exec(0, 'rm /etc/kubernetes/manifests/etcd.yaml.bak');
    await waitFor('duplicate pod gone', async () => (await lab.exec(0, 'ls /run/pods')).stdout.split('\n').every((f) => !f.includes('bak')), 8_000);
    expect(await podProc(lab, 0, 'etcd')).toEqual(before);
  }, 20_000);

  it('restarts a pod that dies and keeps pods across a kubelet restart', async () => {
    const before = await podProc(lab, 1, 'etcd');
    expect(before).not.toBeNull();
    await lab.exec(1, `kill -9 ${before?.pid}`);
    await waitFor('etcd restarted by the kubelet', async () => {
      const now = await podProc(lab, 1, 'etcd');
      return now !== null && now.pid !== before?.pid;
    });
    await lab.waitHealthy({ timeoutMs: 15_000 });
    const after = await podProc(lab, 1, 'etcd');
    // the kubelet's log so far: what the new kubelet writes comes after this many bytes
    const logged = Number((await lab.exec(1, 'stat -c %s /var/log/kubelet.log')).stdout.trim());
    const r = await lab.exec(1, 'systemctl restart kubelet && systemctl is-active kubelet');
    expect(r.stdout.trim()).toBe('active');
    // the new kubelet adopted the pod and finished its first pass over the manifests: whatever it would do
    // to a pod it did not adopt (stop it, start another) it has begun by now
    const since = async (): Promise<string> => (await lab.exec(1, `tail -c +${logged + 1} /var/log/kubelet.log`)).stdout;
    await waitFor('the new kubelet to finish its first sync', async () => /first sync done:/.test(await since()), 10_000);
    const newLog = await since();
    expect(newLog).toContain(`adopted running pod etcd pid ${after?.pid}`);
    expect(newLog).toMatch(/first sync done:.* etcd=running/);
    expect(newLog).not.toMatch(/(started|stopping) pod etcd /);
    expect(await podProc(lab, 1, 'etcd')).toEqual(after);
  }, 30_000);
});

describe('etcd lab: systemd units (simulated systemctl)', () => {
  let lab: Lab;
  let node1: LabNode;

  beforeAll(async () => {
    const t0 = Date.now();
    lab = await startLab({ nodes: 3, etcd: 'systemd' });
    console.log(`systemd lab healthy in ${Date.now() - t0} ms`);
    node1 = lab.nodes[0] as LabNode;
  }, 40_000);

  afterAll(async () => {
    await lab?.stop();
  }, 30_000);

  it('comes up healthy with etcd and kube-apiserver units', async () => {
    const health = await lab.waitHealthy({ timeoutMs: 5_000 });
    expect(health.members).toHaveLength(3);
    const r = await ssh(
      lab.sshArgs(node1),
      'command -v systemctl journalctl; systemctl is-active etcd kube-apiserver; ls /etc/kubernetes/manifests | wc -l; ' +
        'grep -c "^  --" /etc/systemd/system/etcd.service; [ "$(cat /run/lab-systemd/etcd.service.pid)" = "$(pgrep -x etcd)" ] && echo pidfile-ok',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['/etc/lab-bin/systemctl', '/etc/lab-bin/journalctl', 'active', 'active', '0', '19', 'pidfile-ok']);
    const api = await httpGet(`${lab.apiserverUrl(1)}/readyz`);
    expect(api.status).toBe(200);
  });

  it('stops and starts etcd with systemctl over ssh', async () => {
    const args = lab.sshArgs(node1);
    const stop = await ssh(args, 'systemctl stop etcd; systemctl is-active etcd; echo "rc=$?"');
    expect(stop.stdout.trim().split('\n')).toEqual(['inactive', 'rc=3']);
    expect(await tcpOpen(node1.address, 2379)).toBe(false);
    // quorum holds with two members; the apiservers (all endpoints) stay ready
    expect((await httpGet(`${lab.apiserverUrl(1)}/readyz`)).status).toBe(200);
    const start = await ssh(args, 'systemctl start etcd && systemctl is-active etcd && systemctl status etcd | head -3');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^active\n● etcd\.service - Etcd Server\n.*\n\s+Active: active \(running\)/);
    await lab.waitHealthy({ timeoutMs: 15_000 });
    const log = await ssh(args, 'journalctl -u etcd -n 200 --no-pager | grep -c "ready to serve client requests"');
    expect(Number(log.stdout.trim())).toBeGreaterThanOrEqual(2);
    // the stopped etcd was reaped (node-init.sh, PID 1, reaps orphans)
    expect((await lab.exec(node1, "ps -eo stat= | grep -c '^Z' || true")).stdout.trim()).toBe('0');
  }, 30_000);

  it('starts the enabled units again when a node reboots', async () => {
    await lab.etcdctl(0, ['put', '/lab/reboot', 'kept'], { endpoints: 'all' });
    await lab.stopNode(1);
    await lab.startNode(1);
    await lab.waitHealthy({ timeoutMs: 15_000 });
    const r = await lab.etcdctl(1, ['get', '/lab/reboot', '--print-value-only', '--consistency=s']);
    expect(r.stdout.trim()).toBe('kept');
  }, 30_000);

  it('uses edited unit flags only after daemon-reload', async () => {
    const args = lab.sshArgs(2);
    const flags = "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value etcd)/cmdline | grep snapshot-count";
    await ssh(args, "sed -i 's/--snapshot-count=10000/--snapshot-count=5000/' /etc/systemd/system/etcd.service");
    const stale = await ssh(args, `systemctl restart etcd; ${flags}`);
    expect(stale.stderr).toMatch(/changed on disk. Run 'systemctl daemon-reload'/);
    expect(stale.stdout.trim()).toBe('--snapshot-count=10000');
    const fresh = await ssh(args, `systemctl daemon-reload && systemctl restart etcd && ${flags}`);
    expect(fresh.stderr).toBe('');
    expect(fresh.stdout.trim()).toBe('--snapshot-count=5000');
    await lab.waitHealthy({ timeoutMs: 15_000 });
  }, 30_000);
});

describe('lab S3 (s3rver)', () => {
  let s3: LabS3;
  let client: S3Client;

  beforeAll(async () => {
    s3 = await startS3();
    client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }, 20_000);

  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
  });

  it('puts, lists, gets and deletes an object', async () => {
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.bucket).toBe('etcd-backups');
    const body = randomBytes(100_000);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'snapshots/a.db', Body: body }));
    const list = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'snapshots/' }));
    expect(list.Contents?.map((o) => [o.Key, o.Size])).toEqual([['snapshots/a.db', body.length]]);
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'snapshots/a.db' }));
    const bytes = await got.Body?.transformToByteArray();
    expect(sha256(bytes ?? new Uint8Array())).toBe(sha256(body));
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: 'snapshots/a.db' }));
    const empty = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    expect(empty.KeyCount ?? 0).toBe(0);
  });

  it('round-trips a multipart upload byte for byte', async () => {
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(123_457)];
    const whole = Buffer.concat(parts);
    const Key = 'snapshots/multipart.db';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key }));
    const done = [];
    for (const [i, part] of parts.entries()) {
      const r = await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key, UploadId, PartNumber: i + 1, Body: part }));
      done.push({ ETag: r.ETag, PartNumber: i + 1 });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key, UploadId, MultipartUpload: { Parts: done } }));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
    const bytes = await got.Body?.transformToByteArray();
    expect(bytes?.length).toBe(whole.length);
    expect(sha256(bytes ?? new Uint8Array())).toBe(sha256(whole));
  }, 20_000);

  it('is killed by stop()', async () => {
    const other = await startS3({ bucket: 'other' });
    expect(await tcpOpen('127.0.0.1', other.port)).toBe(true);
    await other.stop();
    expect(await tcpOpen('127.0.0.1', other.port)).toBe(false);
  });
});

describe('etcd lab: versions from the etcd cache, masters without etcd tools', () => {
  let lab: Lab;

  beforeAll(async () => {
    // a mixed cluster (as in the middle of an upgrade): two 3.5 members of different patch levels and a 3.4 one;
    // the first master has no etcd tools on its PATH
    const [v34, v35] = [resolveEtcdVersion('3.4'), resolveEtcdVersion('3.5')];
    lab = await startLab({ nodes: 3, etcd: 'static-pod', etcdVersion: [v35, '3.5.16', v34], hostTools: [false, true, true] });
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
  }, 30_000);

  it('runs each member at the version its image tag names, from the cache that etcd-dist.sh checked', async () => {
    expect(cachedEtcdVersions()).toEqual(expect.arrayContaining(['3.5.16', '3.5.30']));
    const st = await lab.etcdctl(1, ['endpoint', 'status', '-w', 'json'], { endpoints: 'all' });
    expect(st.code, st.stderr).toBe(0);
    const status = parseEtcdJson<Array<{ Endpoint: string; Status: { version: string } }>>(st.stdout);
    expect(status.map((s) => s.Status.version)).toEqual(lab.etcdVersions);
    const image = await lab.exec(0, 'grep "image:" /etc/kubernetes/manifests/etcd.yaml');
    expect(image.stdout.trim()).toBe(`image: registry.k8s.io/etcd:${lab.etcdVersions[0]}-0`);
    const sums = await lab.exec(0, `cd ${lab.etcdCache}/3.5.16 && sha256sum -c SHA256SUMS && ./etcdutl version`);
    expect(sums.code, sums.stderr).toBe(0);
    expect(sums.stdout).toMatch(/etcdutl version: 3\.5\.16/);
  });

  it('a master with host tools off has no etcd, etcdctl or etcdutl on a login PATH; the others have their own version', async () => {
    const none = await ssh(lab.sshArgs(0), 'for b in etcd etcdctl etcdutl; do command -v $b || echo "no $b"; done');
    expect(none.stdout.trim().split('\n')).toEqual(['no etcd', 'no etcdctl', 'no etcdutl']);
    const own = await ssh(lab.sshArgs(1), 'etcdctl version | head -1; etcdutl version | head -1');
    expect(own.stdout.trim().split('\n')).toEqual(['etcdctl version: 3.5.16', 'etcdutl version: 3.5.16']);
    const old = await ssh(lab.sshArgs(2), 'etcdctl version | head -1; command -v etcdutl || echo "no etcdutl"');
    expect(old.stdout.trim().split('\n')).toEqual([`etcdctl version: ${lab.etcdVersions[2]}`, 'no etcdutl']);
  });

  it('an image tag the lab does not have fails the pod start, like an image that cannot be pulled', async () => {
    const r = await lab.exec(2, "sed -i 's|image: .*etcd:.*|image: registry.k8s.io/etcd:9.9.9-0|' /etc/kubernetes/manifests/etcd.yaml && for i in $(seq 1 100); do grep -q 'not present' /var/log/pods/etcd.log 2>/dev/null && break; sleep 0.1; done; grep -c 'etcd:9.9.9-0 is not present' /var/log/pods/etcd.log");
    expect(r.stdout.trim()).not.toBe('0');
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
  });

  it('kube-controller-manager and kube-scheduler stand-ins run as static pods and answer /healthz', async () => {
    for (const [i, n] of lab.nodes.entries()) {
      for (const port of [10257, 10259]) {
        const r = await lab.exec(i, `curl -fsS --max-time 3 http://${n.address}:${port}/healthz`);
        expect(r.stdout, `${n.name}:${port} ${r.stderr}`).toBe('ok');
      }
    }
  });
});
