// The dashboard in a real browser (Debian's Chromium through playwright-core)
// against the headless server over a real engine: what a user sees and does.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useDashboard } from '../helpers/dashboard.js';
import { eventually } from '../helpers/engine-with-images.js';
import { run } from '../../guest-agent/util/subprocess.js';
import { startRegistry } from '../helpers/registry.js';

describe('dashboard (browser)', () => {
  const dash = useDashboard();
  const page = () => dash().page;
  const d = (...args: string[]) => docker(dash().engine, args);
  const running = async (name: string) =>
    (await d('inspect', '-f', '{{.State.Running}}', name)).stdout.trim();
  const row = (name: string) =>
    page().locator('.crow', { has: page().locator(`[data-testid="container-name"]:text-is("${name}")`) });

  it('shows a container started from the docker CLI within a second, grouped by compose project', async () => {
    await page().locator('h1', { hasText: 'Containers' }).waitFor();
    const r = await d(
      'run',
      '-d',
      '--name',
      'ui-cli',
      '--stop-timeout',
      '1',
      '-p',
      '127.0.0.1::80',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(r.code, 0, r.stderr);
    const started = Date.now();
    await row('ui-cli').waitFor({ timeout: 1000 });
    // The row can come from the create event a moment before the start event: running within the same second.
    await eventually(
      async () => /running/.test(await row('ui-cli').locator('.state-text').innerText()),
      Math.max(0, 1000 - (Date.now() - started)),
      'the row to say running',
    );
    assert.ok(Date.now() - started <= 1000);
    assert.match(await row('ui-cli').locator('.ports a').innerText(), /^\d+:80$/);
    const p = await d(
      'run',
      '-d',
      '--name',
      'ui-shop-web',
      '--label',
      'com.docker.compose.project=shop',
      '--label',
      'com.docker.compose.service=web',
      'busybox',
      'sleep',
      '600',
    );
    assert.equal(p.code, 0, p.stderr);
    await page().locator('.group-name[data-project="shop"]').waitFor({ timeout: 1000 });
    await row('ui-shop-web').waitFor({ timeout: 1000 });
    // The memory column fills in from the live feed's stats.
    await eventually(
      async () => /^\d+(\.\d)? (B|KB|MB)$/.test(await row('ui-cli').getByTestId('memory').innerText()),
      10_000,
      'memory use in the list',
    );
    await dash().shot('containers');
  });

  it('searches and filters the list', async () => {
    await page().getByLabel('Search containers').fill('shop');
    await eventually(async () => (await row('ui-cli').count()) === 0, 2000, 'ui-cli filtered out');
    assert.equal(await row('ui-shop-web').count(), 1);
    await page().getByLabel('Search containers').fill('');
    await row('ui-cli').waitFor();
  });

  it('stops, starts and deletes from the UI, and the engine changes', async () => {
    await page().getByRole('button', { name: 'Stop ui-cli', exact: true }).click();
    await eventually(async () => (await running('ui-cli')) === 'false', 10_000, 'the engine to stop it');
    await eventually(
      async () => /exited/.test(await row('ui-cli').locator('.state-text').innerText()),
      2000,
      'the list to say exited',
    );
    await page().getByRole('button', { name: 'Start ui-cli', exact: true }).click();
    await eventually(async () => (await running('ui-cli')) === 'true', 10_000, 'the engine to start it');
    await eventually(
      async () => /running/.test(await row('ui-cli').locator('.state-text').innerText()),
      2000,
      'the list to say running',
    );
    await page().getByRole('button', { name: 'Delete ui-shop-web' }).click();
    await eventually(
      async () => (await d('inspect', 'ui-shop-web')).code !== 0,
      10_000,
      'the engine to remove it',
    );
    await eventually(async () => (await row('ui-shop-web').count()) === 0, 2000, 'the row to go');
  });

  it('bulk-stops the selected containers', async () => {
    await d('run', '-d', '--name', 'ui-bulk-1', '--stop-timeout', '1', 'busybox', 'sleep', '600');
    await d('run', '-d', '--name', 'ui-bulk-2', '--stop-timeout', '1', 'busybox', 'sleep', '600');
    await row('ui-bulk-2').waitFor();
    await page().getByLabel('Select ui-bulk-1').check();
    await page().getByLabel('Select ui-bulk-2').check();
    await page()
      .getByRole('toolbar', { name: 'Selected containers' })
      .getByRole('button', { name: 'Stop' })
      .click();
    await eventually(
      async () => (await running('ui-bulk-1')) === 'false' && (await running('ui-bulk-2')) === 'false',
      15_000,
      'both stopped',
    );
    assert.equal(await running('ui-cli'), 'true');
    await page()
      .getByRole('toolbar', { name: 'Selected containers' })
      .getByRole('button', { name: 'Delete' })
      .click();
    await eventually(
      async () =>
        (await d('inspect', 'ui-bulk-1')).code !== 0 && (await d('inspect', 'ui-bulk-2')).code !== 0,
      10_000,
      'both deleted',
    );
  });

  it('follows logs: new lines appear, search highlights, stderr is apart, timestamps toggle', async () => {
    await d(
      'run',
      '-d',
      '--name',
      'ui-logs',
      'busybox',
      'sh',
      '-c',
      'echo hello-out; echo hello-err >&2; sleep 600',
    );
    await row('ui-logs').waitFor();
    await row('ui-logs').locator('[data-testid="container-name"]').click();
    const logs = page().getByRole('log', { name: 'Container logs' });
    await logs.locator('.log-line', { hasText: 'hello-err' }).waitFor();
    assert.match(
      (await logs.locator('.log-line', { hasText: 'hello-err' }).getAttribute('class')) ?? '',
      /stderr/,
    );
    assert.match(
      (await logs.locator('.log-line', { hasText: 'hello-out' }).getAttribute('class')) ?? '',
      /stdout/,
    );
    // A line written now, while the tab follows.
    await d('exec', 'ui-logs', 'sh', '-c', 'echo fresh-line-42 > /proc/1/fd/1');
    await logs.locator('.log-line', { hasText: 'fresh-line-42' }).waitFor({ timeout: 3000 });
    await page().getByLabel('Search the logs').fill('fresh');
    assert.equal(await logs.locator('mark').first().innerText(), 'fresh');
    assert.equal(await page().getByTestId('log-hits').innerText(), '1 of 1');
    await page().getByLabel('Timestamps').check();
    assert.match(await logs.locator('.log-line .ts').first().innerText(), /^\d{4}-\d\d-\d\dT/);
    await dash().shot('container-logs');
  });

  it('keeps the log DOM virtual: 100,000 lines, a few dozen elements', async () => {
    await d('run', '-d', '--name', 'ui-many', 'busybox', 'sh', '-c', 'seq 1 100000; sleep 600');
    await eventually(
      async () => (await d('logs', '--tail', '1', 'ui-many')).stdout.trim() === '100000',
      30_000,
      'all lines written',
    );
    const id = (await d('inspect', '-f', '{{.Id}}', 'ui-many')).stdout.trim();
    await page().goto(`${dash().server.url}#/containers/${id}/logs`);
    await page().getByLabel('Lines to show').selectOption('all');
    await eventually(
      async () => (await page().getByTestId('log-hits').innerText()).startsWith('100000 lines'),
      30_000,
      'all 100,000 lines loaded',
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${await page().getByTestId('log-hits').innerText()}`);
    });
    const logs = page().getByRole('log', { name: 'Container logs' });
    await logs.locator('.log-line', { hasText: /^100000$/ }).waitFor();
    const inDom = await logs.locator('.log-line').count();
    assert.ok(inDom < 200, `${inDom} line elements in the DOM`);
  });

  it('runs echo in the terminal and shows the output', async () => {
    const id = (await d('inspect', '-f', '{{.Id}}', 'ui-logs')).stdout.trim();
    await page().goto(`${dash().server.url}#/containers/${id}/terminal`);
    await eventually(
      async () => (await page().getByTestId('terminal-status').innerText()) === 'connected',
      10_000,
      'the terminal session',
    );
    const rows = page().locator('.xterm-rows');
    await eventually(async () => /\/ # /.test(await rows.innerText()), 10_000, 'the prompt');
    await page().locator('.xterm-host').click();
    await page().keyboard.type('echo term-$((6*7))');
    await page().keyboard.press('Enter');
    await eventually(async () => /^term-42$/m.test(await rows.innerText()), 10_000, 'the echo output');
    await dash().shot('container-terminal');
  });

  it('shows inspect, stats and files, and uploads a file', async () => {
    const id = (await d('inspect', '-f', '{{.Id}}', 'ui-logs')).stdout.trim();
    await page().goto(`${dash().server.url}#/containers/${id}/inspect`);
    await page()
      .locator('.json-leaf', { hasText: `Id: "${id}"` })
      .waitFor();
    await dash().shot('container-inspect');
    await page().getByRole('tab', { name: 'Inspect' }).focus();
    await page().keyboard.press('ArrowRight');
    await page().getByRole('tab', { name: 'Terminal', selected: true }).waitFor({ timeout: 2000 });
    await page().goto(`${dash().server.url}#/containers/${id}/stats`);
    await page().locator('figure.chart', { hasText: 'Memory' }).waitFor({ timeout: 10_000 });
    await dash().shot('container-stats');
    await page().goto(`${dash().server.url}#/containers/${id}/files`);
    await page().getByRole('button', { name: 'etc/', exact: true }).click();
    await page()
      .getByRole('table', { name: 'Files in /etc' })
      .locator('td', { hasText: 'hostname' })
      .first()
      .waitFor();
    const upload = path.join(dash().engine.dataRoot, '..', 'upload-me.txt');
    writeFileSync(upload, 'from the browser\n');
    await page().getByLabel('Upload a file to /etc').setInputFiles(upload);
    await page()
      .getByRole('table', { name: 'Files in /etc' })
      .locator('td', { hasText: 'upload-me.txt' })
      .waitFor();
    assert.equal((await d('exec', 'ui-logs', 'cat', '/etc/upload-me.txt')).stdout, 'from the browser\n');
    await dash().shot('container-files');
  });

  it('runs a container from the image dialog with a port and an env var', async () => {
    await page().goto(`${dash().server.url}#/images`);
    await page().getByRole('button', { name: 'Run busybox:latest' }).click();
    const dialog = page().getByRole('dialog', { name: 'Run busybox:latest' });
    await dialog.getByLabel('Container name').fill('ui-from-dialog');
    await dialog.getByLabel('Command').fill('sleep 600');
    await dialog.getByRole('button', { name: 'Add port' }).click();
    await dialog.getByLabel('Ports 1 container port[/udp]').fill('8080');
    await dialog.getByRole('button', { name: 'Add environment variable' }).click();
    await dialog.getByLabel('Environment variables 1 NAME').fill('GREETING');
    await dialog.getByLabel('Environment variables 1 value').fill('hello from the dialog');
    await dash().shot('image-run-dialog');
    await dialog.getByRole('button', { name: 'Run' }).click();
    await page().getByRole('heading', { name: 'ui-from-dialog' }).waitFor({ timeout: 10_000 });
    assert.equal(await running('ui-from-dialog'), 'true');
    assert.match(
      (await d('inspect', '-f', '{{json .Config.Env}}', 'ui-from-dialog')).stdout,
      /GREETING=hello from the dialog/,
    );
    assert.match((await d('port', 'ui-from-dialog', '8080/tcp')).stdout, /:\d+/);
  });

  it('pulls an image from the Images view, then runs it', async () => {
    const registry = await startRegistry();
    try {
      const ref = `${registry.host}/ui-pulled:1`;
      assert.equal((await d('tag', 'busybox', ref)).code, 0);
      const push = await d('push', ref);
      assert.equal(push.code, 0, push.stderr);
      assert.equal((await d('rmi', ref)).code, 0);
      await page().goto(`${dash().server.url}#/images`);
      await page().getByLabel('Image to pull').fill(ref);
      await page().getByRole('button', { name: 'Pull', exact: true }).click();
      await page()
        .getByRole('status')
        .filter({ hasText: `Pulled ${ref}` })
        .waitFor({ timeout: 30_000 });
      const listed = page()
        .getByRole('table', { name: 'Images' })
        .getByRole('row', { name: new RegExp(ref) });
      await listed.waitFor();
      assert.equal((await d('image', 'inspect', ref)).code, 0);
      // The same content as busybox: one image with both tags.
      await listed.getByRole('button', { name: /^Run / }).click();
      const dialog = page().getByRole('dialog', { name: /^Run / });
      await dialog.getByLabel('Container name').fill('ui-pulled-run');
      await dialog.getByLabel('Command').fill('sleep 600');
      await dialog.getByRole('button', { name: 'Run' }).click();
      await page().getByRole('heading', { name: 'ui-pulled-run' }).waitFor({ timeout: 10_000 });
      assert.equal(await running('ui-pulled-run'), 'true');
    } finally {
      await registry.stop();
    }
  });

  it('refuses a bad run dialog with the field named', async () => {
    await page().goto(`${dash().server.url}#/images`);
    await page().getByRole('button', { name: 'Run busybox:latest' }).click();
    const dialog = page().getByRole('dialog', { name: 'Run busybox:latest' });
    await dialog.getByRole('button', { name: 'Add port' }).click();
    await dialog.getByLabel('Ports 1 container port[/udp]').fill('99999');
    await dialog.getByRole('button', { name: 'Run' }).click();
    await dialog.getByText('a port from 1 to 65535').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dash().shot('images');
  });

  it('validates settings as they are typed and saves good ones', async () => {
    await page().goto(`${dash().server.url}#/settings`);
    const cpus = page().getByLabel('CPUs');
    await cpus.fill('0');
    await page()
      .getByText(/a whole number from 1 to \d+/)
      .waitFor();
    assert.equal(await cpus.getAttribute('aria-invalid'), 'true');
    assert.equal(await page().getByRole('button', { name: 'Apply' }).isDisabled(), true);
    await page().getByLabel('daemon.json').fill('{"iptables": "no"}');
    await page().getByText('"iptables" must be true or false').waitFor();
    await dash().shot('settings-invalid');
    await cpus.fill('1');
    await page().getByLabel('daemon.json').fill('{"userland-proxy": false}');
    await page().getByRole('button', { name: 'Apply' }).click();
    await page().getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    await page()
      .getByText(/take effect when the VM restarts/)
      .waitFor();
    await dash().shot('settings');
  });

  it('shows in the Isolation tab the memory limit and where each variable came from', async () => {
    const envFile = path.join(dash().engine.dataRoot, '..', 'ui.env');
    writeFileSync(envFile, 'FROM_FILE=file-value\n');
    // berth run records each variable's source (docker run cannot say -e from --env-file).
    const r = await run(
      process.execPath,
      [
        path.resolve('bin/berth'),
        'run',
        '-d',
        '--name',
        'ui-iso',
        '-m',
        '64m',
        '-e',
        'FROM_FLAG=flag-value',
        '--env-file',
        envFile,
        'busybox',
        'sleep',
        '600',
      ],
      { env: { DOCKER_HOST: dash().engine.host }, allowFailure: true },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const id = (await d('inspect', '-f', '{{.Id}}', 'ui-iso')).stdout.trim();
    await page().goto(`${dash().server.url}#/containers/${id}/isolation`);
    assert.equal(await page().getByTestId('memory-limit').innerText(), '64 MB');
    const env = page().getByRole('table', { name: 'Environment variables' });
    assert.equal(await env.locator('tr[data-env="FROM_FLAG"] .chip').innerText(), '-e');
    assert.equal(await env.locator('tr[data-env="FROM_FILE"] .chip').innerText(), 'env-file');
    assert.equal(await env.locator('tr[data-env="PATH"] .chip').innerText(), 'image');
    await dash().shot('container-isolation');
  });

  it('shows volumes, networks, compose projects and the machine', async () => {
    await d('volume', 'create', 'ui-data');
    await d('network', 'create', 'ui-net');
    await d(
      'run',
      '-d',
      '--name',
      'ui-proj-db',
      '-v',
      'ui-data:/data',
      '--label',
      'com.docker.compose.project=proj',
      '--label',
      'com.docker.compose.service=db',
      'busybox',
      'sleep',
      '600',
    );
    await page().goto(`${dash().server.url}#/volumes`);
    const vol = page().getByRole('table', { name: 'Volumes' }).locator('tr', { hasText: 'ui-data' });
    await vol.waitFor();
    assert.match(await vol.innerText(), /ui-proj-db/);
    await dash().shot('volumes');
    // Browse: the volume's files, in the container that mounts it.
    assert.equal((await d('exec', 'ui-proj-db', 'sh', '-c', 'echo hi > /data/in-volume.txt')).code, 0);
    await page().getByRole('link', { name: 'Browse volume ui-data' }).click();
    await page()
      .getByRole('table', { name: 'Files in /data' })
      .locator('td', { hasText: 'in-volume.txt' })
      .waitFor();
    await page().goto(`${dash().server.url}#/networks`);
    await page().getByRole('table', { name: 'Networks' }).locator('tr', { hasText: 'ui-net' }).waitFor();
    await dash().shot('networks');
    await page().goto(`${dash().server.url}#/compose`);
    await page()
      .getByRole('table', { name: 'Compose projects' })
      .getByRole('row', { name: /^proj db / })
      .waitFor();
    await dash().shot('compose');
    await page().getByRole('button', { name: 'Stop proj' }).click();
    await eventually(async () => (await running('ui-proj-db')) === 'false', 15_000, 'the project stopped');
    await page().goto(`${dash().server.url}#/machine`);
    await page().getByTestId('engine-state').filter({ hasText: 'running' }).waitFor();
    await page().getByRole('list', { name: 'Doctor checks' }).locator('li').first().waitFor();
    await dash().shot('machine');
  });

  it('switches to the dark theme from the keyboard', async () => {
    await page().goto(`${dash().server.url}#/containers`);
    const toggle = page().getByRole('button', { name: /Switch to (dark|light) theme/ });
    if ((await toggle.getAttribute('aria-label')) === 'Switch to dark theme') {
      await toggle.focus();
      await page().keyboard.press('Enter');
    }
    assert.equal(await page().evaluate(() => document.documentElement.dataset.theme), 'dark');
    await row('ui-cli').waitFor();
    for (const b of await page().getByRole('button', { name: 'Dismiss' }).all()) await b.click();
    await dash().shot('containers-dark');
  });
});
