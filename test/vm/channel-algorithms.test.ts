// The channel's cipher: ssh2's default (AES-GCM) where the guest runs on the
// CPU, AES-CTR with HMAC-SHA1 (encrypt-then-MAC) under TCG, where the guest's
// emulated AES-GCM was the largest cost of a port tunnel. Negotiated with the
// guest's real control server, which needs no setting for either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../common/ed25519-keys.js';
import { CONTROL_COMMANDS } from '../../common/control.js';
import { ControlServer } from '../../guest-agent/control/server.js';
import { ControlClient, channelAlgorithms } from '../../vm/channel/control-client.js';

test('channel algorithms: AES-CTR and HMAC-SHA1-ETM under TCG, the default AES-GCM otherwise', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-algos-'));
  const keys = generateEd25519();
  const server = new ControlServer({ authorizedKey: keys.public, onShutdown: () => {}, log: () => {} });
  const sockPath = path.join(dir, 'control.sock');
  const listener = net.createServer((s) => server.serve(s));
  await new Promise<void>((r) => listener.listen(sockPath, r));
  t.after(() => {
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const expected: Record<string, string> = {
    tcg: 'aes128-ctr hmac-sha1-etm@openssh.com',
    kvm: 'aes128-gcm@openssh.com',
    hvf: 'aes128-gcm@openssh.com',
  };
  for (const [accel, cipher] of Object.entries(expected)) {
    const client = await ControlClient.connectOnce(sockPath, keys.private, 10_000, channelAlgorithms(accel));
    try {
      assert.equal(client.cipher, cipher, accel);
      assert.equal(await client.run(CONTROL_COMMANDS.ping), 'ok\n', `${accel}: the channel carries commands`);
    } finally {
      client.close();
    }
  }
});
