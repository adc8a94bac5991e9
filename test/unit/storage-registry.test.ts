// The registry client's pure parts: auth challenges, which registries are
// insecure, manifest parsing and platform choice, and how pull requests
// and login addresses are read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from '../../guest-agent/storage/registry/auth.js';
import { RegistryConfig } from '../../guest-agent/storage/registry/endpoints.js';
import {
  choosePlatform,
  parseManifest,
  parsePlatform,
  type ManifestIndex,
} from '../../guest-agent/storage/registry/manifest.js';
import { ImageDistribution, loginDomain } from '../../guest-agent/engine/image-distribution.js';
import type { ImageDistributionDeps } from '../../guest-agent/engine/image-distribution.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

test('WWW-Authenticate challenges: bearer with quoted params, basic, several in one header', () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  assert.deepEqual(
    parseChallenges([
      'Basic realm="a"',
      'Bearer realm="http://127.0.0.1:1/t",error="insufficient_scope"',
    ]).map((c) => c.scheme),
    ['basic', 'bearer'],
  );
  assert.deepEqual(parseChallenges(undefined), []);
});

test('loopback and --insecure-registry entries are insecure; others use verified HTTPS only', () => {
  const config = new RegistryConfig(['myreg.test:5000', '10.1.0.0/16', 'http://plain.test/']);
  for (const host of [
    '127.0.0.1:5000',
    'localhost:5000',
    '[::1]:5000',
    'myreg.test:5000',
    '10.1.2.3',
    'plain.test',
  ]) {
    assert.equal(config.isInsecure(host), true, host);
  }
  for (const host of ['myreg.test:5001', '10.2.0.1:5000', 'ghcr.io', '128.0.0.1']) {
    assert.equal(config.isInsecure(host), false, host);
  }
  assert.deepEqual(
    config.endpoints('127.0.0.1:5000').map((e) => [e.base.href, e.skipTlsVerify]),
    [
      ['https://127.0.0.1:5000/', true],
      ['http://127.0.0.1:5000/', false],
    ],
  );
  assert.deepEqual(
    config.endpoints('ghcr.io').map((e) => [e.base.href, e.skipTlsVerify]),
    [['https://ghcr.io/', false]],
  );
  assert.equal(config.endpoints('docker.io')[0]!.base.host, 'registry-1.docker.io');
  assert.throws(() => new RegistryConfig(['10.0.0.0/99']), /not a valid CIDR/);
});

test('manifests: schema2, OCI, indexes; schema 1 and non-image artifacts are refused', () => {
  const m = parseManifest(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D('a'), size: 10 },
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D('b'), size: 20 },
        ],
      }),
    ),
    '',
    'm',
  );
  assert.equal(m.kind, 'manifest');
  // An OCI manifest without mediaType in its body: the Content-Type decides.
  const oci = parseManifest(
    Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: D('a'), size: 1 }, layers: [] })),
    'application/vnd.oci.image.manifest.v1+json',
    'oci',
  );
  assert.equal(oci.kind, 'manifest');
  assert.throws(
    () => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [] })), '', 'old'),
    /schema 1, which is no longer supported/,
  );
  assert.throws(
    () =>
      parseManifest(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.cncf.helm.config.v1+tar', digest: D('a'), size: 1 },
            layers: [],
          }),
        ),
        '',
        'helm',
      ),
    /not a container image/,
  );
  assert.throws(
    () =>
      parseManifest(
        Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: 'md5:abc', size: 1 }, layers: [] })),
        'application/vnd.oci.image.manifest.v1+json',
        'bad',
      ),
    /unsupported digest/,
  );
});

test('a manifest list resolves to the asked platform; arm64 without a variant is v8', () => {
  const entry = (digest: string, architecture: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });
  const index: ManifestIndex = {
    kind: 'index',
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      entry(D('1'), 'amd64'),
      entry(D('2'), 'arm', 'v7'),
      entry(D('3'), 'arm64'),
      { ...entry(D('4'), 'unknown'), platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  assert.equal(choosePlatform(index, parsePlatform('linux/amd64'))?.digest, D('1'));
  assert.equal(choosePlatform(index, parsePlatform('linux/arm/v7'))?.digest, D('2'));
  assert.equal(choosePlatform(index, parsePlatform('linux/arm64/v8'))?.digest, D('3'));
  assert.equal(choosePlatform(index, parsePlatform('linux/arm64'))?.digest, D('3'));
  assert.equal(choosePlatform(index, parsePlatform('linux/s390x')), undefined);
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux//'), /invalid platform/);
});

test('pull requests: the tag parameter may be a digest; login addresses name the registry', () => {
  const distribution = new ImageDistribution({} as ImageDistributionDeps);
  assert.deepEqual(distribution.pullReference('127.0.0.1:5000/busybox', 'latest'), {
    domain: '127.0.0.1:5000',
    path: 'busybox',
    tag: 'latest',
  });
  assert.deepEqual(distribution.pullReference('busybox', D('c')), {
    domain: 'docker.io',
    path: 'library/busybox',
    digest: D('c'),
  });
  assert.deepEqual(distribution.pullReference('busybox:'), { domain: 'docker.io', path: 'library/busybox' });
  assert.equal(loginDomain(undefined), 'docker.io');
  assert.equal(loginDomain('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(loginDomain('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  assert.equal(loginDomain('Registry.Test:5000'), 'registry.test:5000');
});
