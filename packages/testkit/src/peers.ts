import net from 'node:net';

/** How a misbehaving peer treats its connection. */
export type Behaviour =
  /** Never sends, never reads past what arrives, never closes: a lost RST looks the same. */
  | { kind: 'silent' }
  /** Stops reading at once: the kernel buffers fill and the writer sees a zero window. */
  | { kind: 'non-reader' }
  /** Reads at most `bytesPerSec`, in ticks of `tickMs` (default 50). */
  | { kind: 'slow-reader'; bytesPerSec: number; tickMs?: number }
  /** Sends `payload` (default one byte 0x2e) one byte every `intervalMs`, never more. */
  | { kind: 'trickler'; intervalMs: number; payload?: Buffer };

/** A misbehaving end of one TCP connection. */
export interface Peer {
  readonly socket: net.Socket;
  /** Bytes this peer has consumed from the socket. */
  readonly bytesRead: number;
  /** Bytes this peer has sent. */
  readonly bytesSent: number;
  /** Stops the behaviour and destroys the socket (no FIN, no RST wait). */
  close(): void;
}

/** Applies `behaviour` to an already created socket. */
export function behave(socket: net.Socket, behaviour: Behaviour): Peer {
  let bytesRead = 0;
  let bytesSent = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', () => {}); // a misbehaving peer does not care
  switch (behaviour.kind) {
    case 'silent':
      socket.on('data', (d: Buffer) => {
        bytesRead += d.length;
      });
      break;
    case 'non-reader':
      socket.pause();
      break;
    case 'slow-reader': {
      const tickMs = behaviour.tickMs ?? 50;
      const perTick = (behaviour.bytesPerSec * tickMs) / 1000;
      let budget = 0;
      socket.pause();
      timer = setInterval(() => {
        budget = Math.min(budget + perTick, perTick * 4);
        while (budget >= 1 && socket.readableLength > 0) {
          const chunk = socket.read(
            Math.min(Math.floor(budget), socket.readableLength),
          ) as Buffer | null;
          if (!chunk) break;
          bytesRead += chunk.length;
          budget -= chunk.length;
        }
        // read() above keeps the stream pulling from the kernel up to its high-water mark.
      }, tickMs);
      break;
    }
    case 'trickler': {
      const payload = behaviour.payload ?? Buffer.from('.');
      socket.on('data', (d: Buffer) => {
        bytesRead += d.length;
      });
      timer = setInterval(() => {
        if (bytesSent >= payload.length || !socket.writable) {
          clearInterval(timer);
          return;
        }
        socket.write(payload.subarray(bytesSent, bytesSent + 1));
        bytesSent++;
      }, behaviour.intervalMs);
      break;
    }
  }
  timer?.unref();
  socket.once('close', () => clearInterval(timer));
  return {
    socket,
    get bytesRead() {
      return bytesRead;
    },
    get bytesSent() {
      return bytesSent;
    },
    close() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

/** Connects to `port` and misbehaves as told once connected. */
export function connectPeer(port: number, behaviour: Behaviour, host = '127.0.0.1'): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(behave(socket, behaviour));
    });
  });
}

export interface PeerServer {
  readonly port: number;
  readonly peers: readonly Peer[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1 (port 0 by default) that misbehaves toward every connection. */
export function listenPeer(behaviour: Behaviour, port = 0): Promise<PeerServer> {
  const peers: Peer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    peers.push(behave(socket, behaviour));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        peers,
        close: () =>
          new Promise<void>((done) => {
            for (const p of peers) p.close();
            server.close(() => done());
          }),
      });
    });
  });
}
