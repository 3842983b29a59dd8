import { connect as netConnect, type Socket } from 'node:net';

/** Where a TCP connection goes: a host's first hop. */
export interface TcpEndpoint {
  address: string;
  port: number;
}

const keyOf = (e: TcpEndpoint) => `${e.address}:${e.port}`;

/**
 * TCP connections opened before they are needed. A host's sshd takes tens of milliseconds from accepting
 * a connection to sending its banner (it forks and re-executes itself); a run opens its connections as
 * soon as the inventory is read, so that this happens while the playbook is read and compiled. Nothing is
 * sent on them until the transport takes one for a host's SSH handshake; one that is never taken is
 * closed unused (the host logs a connection closed before authentication). An open socket here does not
 * keep the process alive, and its errors are left for the transport's own connection to report.
 */
export class WarmSockets {
  private readonly pool = new Map<string, Socket>();

  open(endpoints: TcpEndpoint[]): void {
    for (const e of endpoints) {
      const key = keyOf(e);
      if (this.pool.has(key)) continue;
      const s = netConnect({ host: e.address, port: e.port });
      s.setNoDelay(true);
      s.unref();
      // a refusal or a reset now: the transport connects afresh when it needs the host, and says what failed
      s.on('error', () => s.destroy());
      this.pool.set(key, s);
    }
  }

  /** The warm connection to this endpoint, handed over (at most once), or undefined: none, or it failed. */
  take(e: TcpEndpoint): Socket | undefined {
    const key = keyOf(e);
    const s = this.pool.get(key);
    this.pool.delete(key);
    if (!s || s.destroyed || s.readableEnded) {
      s?.destroy();
      return undefined;
    }
    s.removeAllListeners('error');
    s.ref();
    return s;
  }

  /** Close every connection not taken. */
  close(): void {
    for (const s of this.pool.values()) s.destroy();
    this.pool.clear();
  }
}
