// Browser tests of the closed-loop transfer and quarantine (issue 12): the dispatcher sends
// a vehicle for the three contacts waiting in the demo; the driver, on a phone-width page,
// is refused a person not on the run, confirms each of the three at the door (health-code
// QR tokens as a scanner types them, one ID number typed) and marks the arrival; the site
// manager sees the three in their rooms; then the lab records the negative result of the
// last scheduled test of the demo's two people due for release today, and they move on the
// release list from "not yet" to a release button; one is released.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, login, idNumber } from './support.mjs';

let server, browser;
// Screenshots to look at (phone width for the driver), outside the repository.
const shots = (process.env.CORDON_SHOTS || join(tmpdir(), 'cordon-e2e-shots')) + '/';

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function session(username, viewport = { width: 1200, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  await login(page, server.url, username);
  return { ctx, page };
}

async function getJson(page, path) {
  const r = await page.request.get(server.url + path);
  assert.equal(r.status(), 200, path);
  return r.json();
}

test('dispatch → pickups on a phone → arrival in rooms → the lab result puts people on the release list', async () => {
  // The dispatcher: three contacts waiting for a vehicle.
  const dispatcher = await session('transfer_dispatcher');
  let page = dispatcher.page;
  await page.goto(server.url + '/quarantine/dispatch');
  const waiting = page.locator('[data-testid=waiting] input[name=order]');
  assert.equal(await waiting.count(), 3);
  const board = await getJson(page, '/api/v1/quarantine/dispatch');
  const people = board.waiting.map((o) => ({ order: o.id, resident: o.resident_id, name: o.name }));
  for (let i = 0; i < 3; i++) await waiting.nth(i).check();
  await page.fill('input[name=plate]', '晋K66666');
  await page.fill('input[name=team]', '城北转运二组');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=dispatch]')]);
  assert.match(await page.textContent('[data-testid=sent]'), /已派车/);
  await page.screenshot({ path: shots + 'quarantine-dispatch.png', fullPage: true });
  const runId = Number(new URL(page.url()).searchParams.get('sent'));
  assert.ok(runId > 0);
  assert.equal(await page.locator('[data-testid=waiting]').count(), 0);

  // What the people carry: their health codes (the commander reads them), one ID number.
  const commander = await session('commander');
  await commander.page.goto(server.url + '/quarantine/queue');
  assert.ok((await commander.page.locator('[data-testid=queue-row]').count()) >= 3, 'the demo queue');
  await commander.page.screenshot({ path: shots + 'quarantine-queue.png', fullPage: true });
  const tokens = [];
  for (const p of people) tokens.push((await getJson(commander.page, `/api/v1/residents/${p.resident}/code`)).token);
  const first = await getJson(commander.page, `/api/v1/residents/${people[2].resident}`);
  const idOfThird = first.id_number;

  // The driver, on a phone: the run, a refusal, three confirmations, the arrival.
  const driver = await session('transfer_dispatcher', { width: 390, height: 844 });
  page = driver.page;
  await page.goto(server.url + '/quarantine/driver');
  await Promise.all([page.waitForNavigation(), page.click(`a[href="/quarantine/runs/${runId}"]`)]);
  await page.screenshot({ path: shots + 'quarantine-driver-run.png', fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the driver's page fits a phone (${width}px)`);
  assert.equal(await page.locator('[data-testid=member]').count(), 3);

  await page.fill('[data-testid=who]', idNumber('14118219800101123'));
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=confirm]')]);
  assert.match(await page.textContent('[data-testid=form-error]'), /此人不在本车转运名单中/);
  await page.screenshot({ path: shots + 'quarantine-driver-refused.png', fullPage: true });

  for (let i = 0; i < 3; i++) {
    const who = i === 2 && idOfThird && !idOfThird.includes('*') ? idOfThird : tokens[i];
    await page.fill('[data-testid=who]', who);
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=confirm]')]);
    assert.match(await page.textContent('[data-testid=picked]'), new RegExp(`尚待接 ${2 - i}`));
  }
  await page.screenshot({ path: shots + 'quarantine-driver-picked.png', fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=arrive]')]);
  assert.match(await page.textContent('[data-testid=arrived]'), /已到达/);
  const rooms = await page.locator('[data-testid=member-room]').allTextContents();
  assert.equal(rooms.filter((r) => r.trim()).length, 3);
  await page.screenshot({ path: shots + 'quarantine-driver-arrived.png', fullPage: true });

  // The site manager sees them in their rooms.
  const manager = await session('site_manager');
  page = manager.page;
  await page.goto(server.url + '/quarantine/sites');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=site-row] a')]);
  const siteUrl = page.url();
  const here = await page.locator('[data-testid=person-row]').allTextContents();
  for (const p of people) assert.ok(here.some((row) => row.includes(p.name)), `${p.name} is on the board`);
  const shownRooms = (await page.locator('[data-testid=person-room]').allTextContents()).map((r) => r.trim());
  for (const r of rooms) assert.ok(shownRooms.includes(r.trim()), `room ${r} is on the board`);

  // The release list: the demo's two people, their last test without a result.
  assert.equal(await page.locator('[data-testid=release-row]').count(), 2);
  assert.equal(await page.locator('[data-testid=release]').count(), 0);
  assert.match(await page.textContent('[data-testid=release-row]'), /核酸检测结果缺失/);

  // The lab: the two single tubes of today's sample, received and negative.
  const lab = await session('lab_tech');
  for (const tube of ['QZ0000000001', 'QZ0000000002']) {
    await lab.page.goto(server.url + '/testing/lab');
    await lab.page.fill('[data-testid=receive-input]', tube);
    await Promise.all([lab.page.waitForNavigation(), lab.page.click('[data-testid=receive-submit]')]);
    await lab.page.fill('form[action="/testing/lab/result"] input[name=tube]', tube);
    await lab.page.selectOption('form[action="/testing/lab/result"] select[name=result]', 'negative');
    await Promise.all([lab.page.waitForNavigation(), lab.page.click('form[action="/testing/lab/result"] button')]);
  }

  // Both are ready now; one is released.
  await page.goto(siteUrl);
  assert.equal(await page.locator('[data-testid=release]').count(), 2);
  await page.screenshot({ path: shots + 'quarantine-site-board.png', fullPage: true });
  await Promise.all([page.waitForNavigation(), page.locator('[data-testid=release]').first().click()]);
  assert.match(await page.textContent('[data-testid=done]'), /已解除隔离/);
  assert.equal(await page.locator('[data-testid=release-row]').count(), 1);

  // The notices of the site print one per person.
  await page.goto(siteUrl + '/notices');
  assert.ok((await page.locator('[data-testid=notice]').count()) >= 4);
  for (const s of [dispatcher, commander, driver, manager, lab]) await s.ctx.close();
});
