// A TCP proxy on 127.0.0.1 that counts the bytes clients send to the
// registry behind it ("bytes sent"): used to show mount vs upload cost.
import net from 'node:net';

export interface CountProxy { host: string; sent(): number; reset(): void; stop(): Promise<void> }

export async function startCountProxy(targetPort: number): Promise<CountProxy> {
  let sent = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(targetPort, '127.0.0.1');
    sockets.add(client); sockets.add(up);
    client.on('data', (c: Buffer) => { sent += c.length; });
    client.pipe(up); up.pipe(client);
    const end = () => { client.destroy(); up.destroy(); sockets.delete(client); sockets.delete(up); };
    client.on('error', end); up.on('error', end); client.on('close', end); up.on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    sent: () => sent,
    reset: () => { sent = 0; },
    stop: () => new Promise<void>((res) => { for (const s of sockets) s.destroy(); server.close(() => res()); }),
  };
}
