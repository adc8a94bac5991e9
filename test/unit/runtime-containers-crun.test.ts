// runtime-containers.test.ts through crun, as the engine runs it on this host (in a
// private mount namespace on a hybrid cgroup layout), with the seccomp filter cache.
process.env.BERTH_TEST_RUNTIME = 'crun';
await import('./runtime-containers.test.js');
