// Browser test of status where people look (issue 9 §2, issue 10 #2): the grid worker
// hands a door-knock task to a volunteer; the volunteer's phone shows that task alone,
// naming building, unit, room and phone, with no outcome chosen; the 楼长's roster shows
// each person's colour and their household's status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const SHOTS = process.env.CORDON_SHOTS || '/tmp/cordon-shots';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a grid worker assigns a task to a volunteer, who sees only that one', async () => {
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  await Promise.all([cmd.waitForNavigation(), cmd.click('form[action="/testing/rounds"] button')]);
  const round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));
  const tasksUrl = `${server.url}/testing/rounds/${round}/tasks`;

  // The grid worker picks two missed households (grouped by building) and makes tasks.
  const worker = await browser.newPage(PHONE);
  await login(worker, server.url, 'grid_worker');
  await worker.goto(tasksUrl);
  assert.ok((await worker.locator('[data-testid=missed-building]').count()) >= 1, 'the missed list is grouped by building');
  const hids = await worker.locator('[data-testid=missed-household] input[name=household]').evaluateAll((els) => els.slice(0, 2).map((e) => e.value));
  for (const h of hids) await worker.check(`input[name=household][value="${h}"]`);
  await Promise.all([worker.waitForNavigation(), worker.click('#missed button.primary')]);
  assert.equal(await worker.locator('[data-testid=task]').count(), 2);
  // No outcome is chosen for the worker.
  for (const v of await worker.locator('[data-testid=outcome-form] select[name=outcome]').evaluateAll((s) => s.map((x) => x.value))) {
    assert.equal(v, '');
  }
  // The first task to the volunteer.
  const first = worker.locator('[data-testid=task]').first();
  const hid = await first.getAttribute('data-household');
  const room = (await first.locator('.room').textContent()).trim().replace(/\s+/g, ' ');
  assert.match(room, /单元 \S+$/, 'unit by name and room');
  await first.locator('input[name=task]').check();
  const opts = await worker.locator('[data-testid=assignee] option').allTextContents();
  const i = opts.findIndex((o) => o.includes('（志愿者）'));
  assert.ok(i > 0, `the volunteer is offered: ${opts}`);
  await worker.selectOption('[data-testid=assignee]', { index: i });
  await Promise.all([worker.waitForNavigation(), worker.click('[data-testid=assign-submit]')]);
  assert.match(await worker.textContent('[data-testid=assigned-toast]'), /1/);
  assert.equal(await worker.locator(`[data-testid=task][data-household="${hid}"] [data-testid=assigned]`).count(), 1);

  // The volunteer's phone: that task only, no missed list, the household's phone, masked names.
  const vol = await browser.newPage(PHONE);
  await login(vol, server.url, 'volunteer');
  await vol.goto(tasksUrl);
  assert.equal(await vol.locator('[data-testid=task]').count(), 1);
  assert.equal(await vol.locator(`[data-testid=task][data-household="${hid}"]`).count(), 1);
  assert.equal(await vol.locator('[data-testid=missed-household]').count(), 0);
  assert.equal(await vol.locator('#missed').count(), 0);
  assert.ok(await vol.locator('[data-testid=assigned-only]').isVisible());
  assert.equal((await vol.locator('.room').first().textContent()).trim().replace(/\s+/g, ' '), room);
  assert.ok((await vol.locator('[data-testid=task-building]').count()) === 1, 'named by building');
  const members = await vol.locator('[data-testid=task-member]').allTextContents();
  assert.ok(members.length >= 1 && members.every((m) => m.includes('*')), `names masked: ${members}`);
  assert.equal(await vol.locator('[data-testid=outcome-form] select[name=outcome]').inputValue(), '');
  assert.ok(await vol.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');
  await vol.screenshot({ path: `${SHOTS}/volunteer-tasks-phone.png`, fullPage: true });

  // The 楼长's roster: every active person's colour, and the household's status.
  const leader = await browser.newPage(PHONE);
  await login(leader, server.url, 'building_leader');
  const n = await leader.locator('[data-testid=member-colour]').count();
  assert.ok(n >= 10, `colours on the roster (${n})`);
  assert.ok((await leader.locator('[data-testid=household-status]').count()) >= 3);
  await leader.screenshot({ path: `${SHOTS}/roster-status-phone.png` });
  await Promise.all([cmd.close(), worker.close(), vol.close(), leader.close()]);
});
