// berth doctor names the QEMU of the VM's architecture and the package that has it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostChecks } from '../../vm/doctor.js';

function qemuCheck(env: Record<string, string | undefined>) {
  const saved = { PATH: process.env.PATH, BERTH_ARCH: process.env.BERTH_ARCH };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    return hostChecks().find((c) => c.name.startsWith('qemu-system-'));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('doctor: the aarch64 VM needs qemu-system-aarch64, from qemu-system-arm', () => {
  const missing = qemuCheck({ BERTH_ARCH: 'aarch64', PATH: '/nonexistent' });
  assert.equal(missing?.name, 'qemu-system-aarch64');
  assert.equal(missing?.fix, 'apt-get install -y qemu-system-arm');
  assert.match(missing!.detail, /^not found \(the Berth VM, aarch64\), optional$/);

  const x86 = qemuCheck({ BERTH_ARCH: 'x86_64', PATH: '/nonexistent' });
  assert.equal(x86?.name, 'qemu-system-x86_64');
  assert.equal(x86?.fix, 'apt-get install -y qemu-system-x86');

  // A bad BERTH_ARCH is `berth vm`'s to refuse; doctor checks the host's QEMU.
  assert.ok(qemuCheck({ BERTH_ARCH: 'sparc', PATH: '/nonexistent' })?.name.startsWith('qemu-system-'));
});
