// TCP connections a run opens ahead of its SSH handshakes (src/transport/warm-sockets.ts), against a real
// local server that speaks first, as sshd does.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WarmSockets } from '../../src/transport/warm-sockets.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server on 127.0.0.1 that greets every connection with a banner and counts what it accepted. */
async function greeter(): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((c) => {
    accepted.push(c);
    c.on('error', () => undefined);
    c.write('SSH-2.0-test\r\n');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, accepted };
}

/** A port nothing listens on (a server opened and closed again). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const addr = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('warm sockets', () => {
  it('hands over a connection once, with what the server said before it was taken', async () => {
    const g = await greeter();
    const warm = new WarmSockets();
    const at = { address: '127.0.0.1', port: g.port };
    warm.open([at, at]);
    while (g.accepted.length < 1) await tick();
    // the banner is sent now, long before anyone reads it
    await tick();
    const s = warm.take(at);
    expect(s).toBeDefined();
    expect(warm.take(at)).toBeUndefined();
    const got = await new Promise<string>((r) => s?.once('data', (d: Buffer) => r(d.toString())));
    expect(got).toBe('SSH-2.0-test\r\n');
    // one connection for the endpoint named twice
    expect(g.accepted).toHaveLength(1);
    s?.destroy();
  });

  it('a refused connection is not handed over: the transport connects itself and reports the refusal', async () => {
    const port = await closedPort();
    const warm = new WarmSockets();
    warm.open([{ address: '127.0.0.1', port }]);
    for (let i = 0; i < 10; i++) await tick();
    expect(warm.take({ address: '127.0.0.1', port })).toBeUndefined();
  });

  it('close() ends every connection not taken; a taken one is left to its taker', async () => {
    const g = await greeter();
    const g2 = await greeter();
    const warm = new WarmSockets();
    warm.open([
      { address: '127.0.0.1', port: g.port },
      { address: '127.0.0.1', port: g2.port },
    ]);
    while (g.accepted.length < 1 || g2.accepted.length < 1) await tick();
    const taken = warm.take({ address: '127.0.0.1', port: g.port });
    warm.close();
    // the server's side of the connection not taken sees it end
    const ended = g2.accepted[0] as Socket;
    ended.resume();
    await new Promise<void>((r) => ended.once('end', () => r()));
    expect(taken?.destroyed).toBe(false);
    expect(warm.take({ address: '127.0.0.1', port: g2.port })).toBeUndefined();
    taken?.destroy();
  });
});
