// The dashboard's performance targets (issue 9), in a real browser (Debian's
// Chromium through playwright-core) over the headless server and a real engine:
// - first paint with 100 containers: from the headless server's start to the
//   list showing all 100 (a new server and page per sample);
// - a container state change reaching the list: from the engine's event (its
//   own timestamp) to the row showing the new state;
// - the renderer's JS heap while a log is followed: after 100,000 lines and
//   after 300,000 (the Logs tab keeps the newest 100,000, so it stays flat).
// Absolute targets: there is no dockerd counterpart.
// Run through `npm run bench -- dashboard` (scripts/bench.mjs).
import path from 'node:path';
import Docker from 'dockerode';
import { chromium, type Page } from 'playwright-core';
import { startHeadlessServer } from '../main/headless-server.js';
import { busyboxArchive } from '../test/fixtures/busybox-image.js';
import { CHROMIUM } from '../test/helpers/dashboard.js';
import {
  median,
  must,
  printTable,
  repoRoot,
  requirePrivateNetns,
  startBerth,
  writeResults,
  type Row,
} from './subjects.js';

const CONTAINERS = 100;
const PAINT_SAMPLES = 5;
const CHANGE_SAMPLES = 10;
const STATIC_DIR = path.join(repoRoot, 'dist', 'renderer');

/** The renderer's used JS heap in MB, after a collection (Chrome DevTools Protocol). */
async function heapMb(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  await cdp.detach();
  return usedSize / 1e6;
}

/** Waits until the log tab says it holds `want` lines (the count it shows). */
async function logLinesShown(page: Page, want: RegExp, timeoutMs = 120_000): Promise<void> {
  await page.getByTestId('log-hits').filter({ hasText: want }).waitFor({ timeout: timeoutMs });
}

async function main(): Promise<void> {
  await requirePrivateNetns();
  const berth = await startBerth();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const home = path.join(berth.engine.dataRoot, '..', 'dashboard-home');
  const serve = () => startHeadlessServer({ socket: berth.engine.socket, home, staticDir: STATIC_DIR });
  try {
    await must(berth, ['load', '-i', await busyboxArchive()]);
    for (let i = 0; i < CONTAINERS; i += 10)
      await Promise.all(
        Array.from({ length: 10 }, (_v, j) =>
          must(berth, ['create', '--name', `bench-${i + j}`, '--network', 'none', 'busybox', 'sleep', '600']),
        ),
      );

    console.log(`first paint with ${CONTAINERS} containers …`);
    const paints: number[] = [];
    for (let i = 0; i < PAINT_SAMPLES; i++) {
      const t0 = performance.now();
      const server = await serve();
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(server.openUrl);
      await page
        .getByTestId('containers-count')
        .filter({ hasText: `${CONTAINERS} containers` })
        .waitFor({ timeout: 30_000 });
      paints.push(performance.now() - t0);
      await page.close();
      await server.close();
    }

    console.log('state changes reaching the list …');
    const server = await serve();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(server.openUrl);
    await page.getByLabel('Search containers').fill('bench-99');
    const client = new Docker({ socketPath: berth.engine.socket });
    const container = client.getContainer('bench-99');
    const events = (await client.getEvents({
      filters: { type: ['container'], container: ['bench-99'], event: ['start', 'die'] },
    })) as NodeJS.ReadableStream;
    const eventTimes: number[] = [];
    events.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        eventTimes.push(Number(BigInt((JSON.parse(line) as { timeNano: number }).timeNano) / 1_000_000n));
    });
    const changes: number[] = [];
    for (let i = 0; i < CHANGE_SAMPLES; i++) {
      const want = i % 2 === 0 ? 'running' : 'exited';
      const before = eventTimes.length;
      await (want === 'running' ? container.start() : container.kill());
      await page.waitForFunction(
        (state) => document.querySelector('.crow .state-text')?.getAttribute('data-state') === state,
        want,
        { polling: 'raf', timeout: 10_000 },
      );
      const shown = Date.now();
      while (eventTimes.length === before) await new Promise((r) => setTimeout(r, 5));
      changes.push(shown - eventTimes[before]!);
    }
    (events as unknown as { destroy(): void }).destroy();

    console.log('following 300,000 log lines …');
    const writer = await client.createContainer({
      name: 'bench-logs',
      Image: 'busybox',
      // Lines arrive while the tab follows: 100,000 first, then 200,000 more after a pause.
      Cmd: ['sh', '-c', 'sleep 2; seq 1 100000; sleep 8; seq 100001 300000; sleep 600'],
      HostConfig: { NetworkMode: 'none' },
    });
    await writer.start();
    await page.goto(`${server.url}#/containers/${writer.id}/logs`);
    await page.getByLabel('Lines to show').selectOption('all');
    await logLinesShown(page, /^100000 lines/);
    const heapAt100k = await heapMb(page);
    await logLinesShown(page, /dropped/);
    await page
      .getByRole('log', { name: 'Container logs' })
      .locator('.log-line', { hasText: /^300000$/ })
      .waitFor({
        timeout: 120_000,
      });
    const heapAt300k = await heapMb(page);
    await page.close();
    await server.close();

    const rows: Row[] = [
      {
        key: 'firstPaint',
        label: `first paint with ${CONTAINERS} containers, from server start (median of ${PAINT_SAMPLES})`,
        unit: 'ms',
        berth: median(paints),
        target: { name: 'first paint', maxValue: 1000 },
      },
      {
        key: 'stateChange',
        label: `engine event to the list showing it (median of ${CHANGE_SAMPLES})`,
        unit: 'ms',
        berth: median(changes),
        target: { name: 'state change', maxValue: 300 },
      },
      {
        key: 'stateChangeMax',
        label: `the same, slowest of ${CHANGE_SAMPLES}`,
        unit: 'ms',
        berth: Math.max(...changes),
      },
      {
        key: 'heap100k',
        label: 'renderer JS heap, following, at 100,000 lines',
        unit: 'MB',
        berth: heapAt100k,
      },
      {
        key: 'heapGrowth',
        label: 'renderer JS heap growth from 100,000 to 300,000 lines (flat = kept bounded)',
        unit: 'MB',
        berth: heapAt300k - heapAt100k,
        target: { name: 'flat heap', maxValue: 5 },
      },
    ];
    console.log('');
    printTable(rows);
    await writeResults('bench-dashboard.json', undefined, rows);
  } finally {
    await browser.close();
    await berth.stop();
  }
}

await main();
