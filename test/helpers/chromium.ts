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
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

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

/** the page, the router and the browser share two cores with the rest of the suite */
export const PAGE_WAIT_MS = 20_000;

/** Collects what the page reports as going wrong, but for messages matching `expected`. */
export function watchProblems(page: Page, expected?: RegExp): string[] {
  const problems: string[] = [];
  const note = (text: string): void => {
    if (!expected?.test(text)) problems.push(text);
  };
  page.on('console', (m) => {
    if (m.type() === 'error') note(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => note(`page error: ${err.message}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return problems;
}

/** Waits until `locator` shows exactly `text`; on timeout says what it showed instead. */
export async function waitForText(locator: Locator, text: string, what: string, ms = PAGE_WAIT_MS): Promise<void> {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  try {
    await locator.filter({ hasText: exact }).waitFor({ timeout: ms });
  } catch {
    const shown = (await locator.count()) > 0 ? await locator.first().textContent() : '(nothing)';
    assert.fail(`${what}: expected ${JSON.stringify(text)}, the page shows ${JSON.stringify(shown)}`);
  }
}
