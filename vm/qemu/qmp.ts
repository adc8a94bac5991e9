// A minimal QMP (QEMU Machine Protocol) client: connect, negotiate
// capabilities, run commands one at a time.
import net from 'node:net';
import { log } from '../util/log.js';

export class QmpClient {
  private buffer = '';
  private pending: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private greeted: Promise<void>;

  private constructor(private readonly sock: net.Socket) {
    let greet!: () => void;
    this.greeted = new Promise((r) => (greet = r));
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as {
          QMP?: unknown;
          return?: unknown;
          error?: { desc: string };
          event?: string;
        };
        if (msg.QMP) greet();
        else if (msg.event) log.debug('qmp event', { event: msg.event });
        else {
          const p = this.pending.shift();
          if (msg.error) p?.reject(new Error(msg.error.desc));
          else p?.resolve(msg.return);
        }
      }
    });
    const fail = () => {
      for (const p of this.pending.splice(0)) p.reject(new Error('QMP connection closed'));
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  static async connect(socketPath: string): Promise<QmpClient> {
    const sock = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new QmpClient(sock);
    await c.greeted;
    await c.execute('qmp_capabilities');
    return c;
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
