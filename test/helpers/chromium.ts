/**
 * Headless Chromium for the browser tests: Debian's `chromium` (scripts/install-chromium.sh,
 * run by .ci/run), driven by playwright-core. Playwright's own browser downloads are never
 * used. A missing browser fails the test: it must not pass by skipping.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * This machine's network is closed: without the background-networking flags Chromium
 * keeps opening connections that are refused, and looks up Google's hosts at start.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser with a fresh, empty profile (Playwright passes the directory as
 * --user-data-dir); closed and removed after the test.
 */
export async function launchChromium(
  t: TestContext,
  options: { locale?: string; viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-chromium.sh (CI does, in .ci/run)`);
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ARGS,
      headless: true,
      locale: options.locale ?? 'en-US',
      viewport: options.viewport ?? { width: 1200, height: 800 },
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
