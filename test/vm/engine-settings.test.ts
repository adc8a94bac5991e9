// The desktop's engine settings on their way into the VM: composed into a daemon.json, carried on the
// kernel command line in hex (which the guest init turns back into the file), and refused with the
// field named when the settings file was edited into something the engine would refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSettings, daemonConfigParams } from '../../vm/machine.js';
import { qemuArgv } from '../../vm/qemu/argv.js';

test('the log fields and daemon.json text become the engine config, in hex on the command line', () => {
  const s = defaultSettings({}, {
    logDriver: 'fluentd',
    logOpts: { 'fluentd-address': 'localhost:24224' },
    daemonJson: '{"dns": ["10.0.2.3"]}',
  } as never);
  assert.deepEqual(s.engineConfig, {
    dns: ['10.0.2.3'],
    'log-driver': 'fluentd',
    'log-opts': { 'fluentd-address': 'localhost:24224' },
  });
  const [param] = daemonConfigParams(s.engineConfig);
  const hex = param.replace(/^berth\.daemon=/, '');
  assert.match(hex, /^[0-9a-f]+$/, 'nothing the kernel or the init shell would split or expand');
  assert.deepEqual(JSON.parse(Buffer.from(hex, 'hex').toString()), s.engineConfig);
  // Defaults: no parameter, the engine's own defaults.
  assert.equal(defaultSettings({}, {}).engineConfig, undefined);
  assert.deepEqual(daemonConfigParams(undefined), []);
});

test('a hand-edited settings file the engine would refuse is an error naming the key', () => {
  assert.throws(
    () => defaultSettings({}, { logDriver: 'journald' } as never),
    /logDriver: "journald" is not one of/,
  );
  assert.throws(
    () => defaultSettings({}, { daemonJson: '{"bip": 1}' } as never),
    /daemonJson: "bip" must be a string/,
  );
  assert.throws(
    () => defaultSettings({}, { daemonJson: '{"data-root": "/x"}' } as never),
    /unknown key "data-root"/,
  );
});

test('a command line over the kernel limit is refused before QEMU starts', () => {
  const big = {
    'insecure-registries': Array.from({ length: 60 }, (_v, i) => `registry-${i}.example.test:5000`),
  };
  assert.throws(
    () =>
      qemuArgv({
        arch: 'x86_64',
        platform: 'linux',
        accel: 'tcg',
        cpus: 1,
        memoryMiB: 1024,
        kernel: '/c/vmlinuz',
        initramfs: '/c/initramfs.img',
        kernelParams: daemonConfigParams(big),
        disk: '/h/vm/data.qcow2',
        qmpSocket: '/h/vm/qmp.sock',
        controlSocket: '/h/vm/control.sock',
        serialLog: '/h/vm/console.log',
      }),
    /kernel command line is \d+ bytes, over the kernel's 2047: .*shorter daemon\.json/,
  );
});
