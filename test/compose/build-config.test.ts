// A service's build: (forms, args from the shell then .env, the image name it
// gets) and the build context tar with its .dockerignore. No engine involved.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import tar from 'tar-stream';
import { contextTar, isIgnored, parseDockerignore } from '../../compose/build-context.js';
import { serviceConfigHash } from '../../compose/labels.js';
import { loadProject } from '../../compose/load-project.js';
import { resolvedConfig } from '../../compose/resolved-config.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-build-unit-'));
  roots.push(root);
  const dir = path.join(root, 'shop');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

async function tarNames(stream: NodeJS.ReadableStream): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    names.push(`${header.name}${header.type === 'directory' ? '/' : header.type === 'symlink' ? '@' : ''}`);
    body.on('end', next);
    body.resume();
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve).on('error', reject);
    stream.pipe(extract);
  });
  return names.sort();
}

describe('compose build', () => {
  it('short and long forms, args from the shell then .env, the image name', () => {
    const dir = tree({
      'compose.yaml': `services:
  api:
    build: ./api
  web:
    image: shop/web:1
    build:
      context: web
      dockerfile: docker/Web.Dockerfile
      target: prod
      args: [FROM_SHELL, FROM_DOTENV, FIXED=1, UNSET]
      labels: {team: web}
      no_cache: true
    pull_policy: build
`,
      '.env': 'FROM_DOTENV=dot\n',
    });
    const p = loadProject({ cwd: dir, env: { FROM_SHELL: 'sh' } });
    const api = p.services.api;
    assert.equal(api.image, 'shop-api');
    assert.deepEqual(api.build, {
      context: path.join(dir, 'api'),
      dockerfile: 'Dockerfile',
      args: {},
      target: undefined,
      labels: {},
      noCache: false,
      pull: false,
      imageNamed: false,
    });
    const web = p.services.web;
    assert.equal(web.image, 'shop/web:1');
    assert.equal(web.pullPolicy, 'build');
    assert.deepEqual(web.build, {
      context: path.join(dir, 'web'),
      dockerfile: 'docker/Web.Dockerfile',
      args: { FROM_SHELL: 'sh', FROM_DOTENV: 'dot', FIXED: '1' },
      target: 'prod',
      labels: { team: 'web' },
      noCache: true,
      pull: false,
      imageNamed: true,
    });
    // compose config shows it in the long form.
    const out = resolvedConfig(p).services as Record<string, Record<string, unknown>>;
    assert.deepEqual(out.web.build, {
      context: path.join(dir, 'web'),
      dockerfile: 'docker/Web.Dockerfile',
      args: { FROM_SHELL: 'sh', FROM_DOTENV: 'dot', FIXED: '1' },
      target: 'prod',
      labels: { team: 'web' },
      no_cache: true,
    });
    assert.equal(out.web.pull_policy, 'build');
    // How the image is made is not part of the container's config hash.
    const { build: _b, ...withoutBuild } = web;
    assert.equal(serviceConfigHash(web), serviceConfigHash({ ...withoutBuild, name: 'web' }));
  });

  it('.dockerignore: folders, **, negation, and the Dockerfile always sent', async () => {
    const patterns = parseDockerignore('# comment\nnode_modules\n**/*.log\n/secret*\n!secret-ok\n');
    assert.equal(isIgnored(patterns, 'node_modules/x/y.js'), true);
    assert.equal(isIgnored(patterns, 'a/b/c.log'), true);
    assert.equal(isIgnored(patterns, 'c.log'), true);
    assert.equal(isIgnored(patterns, 'secret.txt'), true);
    assert.equal(isIgnored(patterns, 'secret-ok'), false);
    assert.equal(isIgnored(patterns, 'src/secret.txt'), false);

    const dir = tree({
      Dockerfile: 'FROM busybox\n',
      '.dockerignore': 'Dockerfile\n.dockerignore\nbuild\n*.tmp\n',
      'src/app.js': 'x',
      'src/cache.tmp': 'x',
      'build/out.bin': 'x',
      'keep.tmp.txt': 'x',
    });
    symlinkSync('src/app.js', path.join(dir, 'link'));
    assert.deepEqual(await tarNames(await contextTar(dir)), [
      '.dockerignore',
      'Dockerfile',
      'keep.tmp.txt',
      'link@',
      'src/',
      'src/app.js',
      // As with docker: "*.tmp" is only the context's top folder.
      'src/cache.tmp',
    ]);
  });
});
