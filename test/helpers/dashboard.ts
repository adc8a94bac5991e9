// The dashboard under test: a real engine (busybox loaded), the headless server
// over it, and Debian's Chromium driven by playwright-core. Screenshots go to
// .test-artifacts/ui/.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startHeadlessServer, type HeadlessServer } from '../../main/headless-server.js';
import type { TestEngine } from './engine.js';
import { useEngineWithBusybox } from './engine-with-images.js';
import { recordForSweep } from './leftovers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCREENSHOTS = path.join(repoRoot, '.test-artifacts', 'ui');
export const CHROMIUM = process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium';

export interface Dashboard {
  engine: TestEngine;
  server: HeadlessServer;
  page: Page;
  context: BrowserContext;
  /** A screenshot of the page as it is, into .test-artifacts/ui/<name>.png. */
  shot(name: string): Promise<string>;
}

/** Registers before/after hooks (inside a describe); the getter is valid inside tests. */
export function useDashboard(opts: { stats?: boolean } = {}): () => Dashboard {
  const engine = useEngineWithBusybox();
  let browser: Browser | undefined;
  let server: HeadlessServer | undefined;
  let dash: Dashboard | undefined;
  let home: string | undefined;
  before(async () => {
    home = mkdtempSync(path.join(tmpdir(), 'berth-ui-home-'));
    recordForSweep(home);
    server = await startHeadlessServer({
      socket: engine().socket,
      home,
      staticDir: path.join(repoRoot, 'dist', 'renderer'),
      stats: opts.stats ?? true,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`));
    // A confirm() asks before deleting: the user says yes.
    page.on('dialog', (d) => void (d.type() === 'confirm' ? d.accept() : d.dismiss()));
    await page.goto(server.openUrl);
    mkdirSync(SCREENSHOTS, { recursive: true });
    dash = {
      engine: engine(),
      server,
      page,
      context,
      shot: async (name) => {
        const file = path.join(SCREENSHOTS, `${name}.png`);
        await page.screenshot({ path: file });
        return file;
      },
    };
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });
  return () => {
    if (!dash) throw new Error('dashboard not started');
    return dash;
  };
}
