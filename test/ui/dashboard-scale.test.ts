// The dashboard with many containers: the whole list arrives at once on first
// paint, the DOM holds only the rows on screen, and a state change made from
// the CLI reaches the list. Times are printed (not asserted: the machine is shared).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker } from '../helpers/docker.js';
import { useDashboard } from '../helpers/dashboard.js';
import { eventually } from '../helpers/engine-with-images.js';

const COUNT = 100;
const nameOf = (i: number) => `scale-${String(i).padStart(3, '0')}`;
const LAST = nameOf(COUNT - 1);

describe('dashboard with 100 containers (browser)', () => {
  const dash = useDashboard({ stats: false });

  it('paints all 100 in one list whose DOM stays small, and shows a stop from the CLI', async () => {
    const { engine, page, server } = dash();
    for (let i = 0; i < COUNT; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) => nameOf(i + j));
      const results = await Promise.all(
        batch.map((name) => docker(engine, ['create', '--name', name, 'busybox', 'sleep', '600'])),
      );
      for (const r of results) assert.equal(r.code, 0, r.stderr);
    }
    const started = Date.now();
    await page.goto(server.openUrl);
    await page
      .getByTestId('containers-count')
      .filter({ hasText: `${COUNT} containers` })
      .waitFor();
    const firstPaintMs = Date.now() - started;
    const rowsInDom = await page.locator('.crow').count();
    assert.ok(rowsInDom > 5 && rowsInDom < 40, `${rowsInDom} rows in the DOM for ${COUNT} containers`);
    // Scrolled to the end, the last one is there (and the DOM is still small).
    await page.locator('.list-scroll').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator('[data-testid="container-name"]', { hasText: LAST }).waitFor();
    assert.ok((await page.locator('.crow').count()) < 40);
    await dash().shot('containers-100');

    const r = await docker(engine, ['start', LAST]);
    assert.equal(r.code, 0, r.stderr);
    const changed = Date.now();
    await eventually(
      async () =>
        /running/.test(await page.locator('.crow', { hasText: LAST }).locator('.state-text').innerText()),
      2000,
      'the started container to show running',
    );
    const stateChangeMs = Date.now() - changed;
    process.stdout.write(
      `# first paint with ${COUNT} containers: ${firstPaintMs} ms; a start reached the list in ${stateChangeMs} ms\n`,
    );
    await docker(engine, ['rm', '-f', LAST]);
  });
});
