// Browser tests of mass testing (issue 3): a sampler scans a tube and ten residents with
// the keyboard, the tube seals itself, and the 楼长's missed list shrinks live; a lab
// tech uploads a result file with one positive and the pool's members show up as
// awaiting individual results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
const TUBE = 'AB0000000001';
let round;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a sampler scans a tube and ten residents; the tube seals; the missed list shrinks', async () => {
  // The commander opens a round for today.
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  const before = await cmd.locator('[data-testid=round]').count();
  await Promise.all([cmd.waitForNavigation(), cmd.click('form[action="/testing/rounds"] button')]);
  assert.equal(await cmd.locator('[data-testid=round]').count(), before + 1);
  round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));
  assert.ok(round > 0);

  // The building leader watches the missed list of their building.
  const leader = await browser.newPage();
  await login(leader, server.url, 'building_leader');
  const building = leader.url().split('/').pop();
  const roster = await (await leader.request.get(`${server.url}/api/v1/buildings/${building}/roster`)).json();
  const ids = roster.flatMap((h) => h.members).filter((m) => m.status === 'active').map((m) => m.id_number);
  assert.ok(ids.length >= 10, 'the building has ten residents');
  await leader.goto(`${server.url}/testing/rounds/${round}/buildings/${building}/missed`);
  const missedBefore = await leader.locator('[data-testid=missed-person]').count();
  assert.equal(missedBefore, ids.length, 'nobody sampled yet in the new round');

  // The sampler scans with a keyboard-wedge scanner: text, Enter.
  const sampler = await browser.newPage();
  await login(sampler, server.url, 'sampler');
  await sampler.goto(`${server.url}/testing/rounds/${round}/scan`);
  const input = sampler.locator('[data-testid=scan-input]');
  assert.ok(await input.evaluate((el) => el === document.activeElement), 'the scan box has the focus');
  await sampler.keyboard.type(TUBE);
  await sampler.keyboard.press('Enter');
  await sampler.waitForFunction((t) => document.querySelector('[data-testid=tube]').textContent === t, TUBE);
  assert.equal(await sampler.textContent('[data-testid=count]'), '0/10');
  for (let i = 0; i < 10; i++) {
    await sampler.keyboard.type(ids[i]);
    await sampler.keyboard.press('Enter');
    await sampler.waitForFunction((n) => document.querySelector('[data-testid=count]').textContent === `${n}/10`, i + 1);
    const fb = await sampler.textContent('[data-testid=feedback]');
    assert.match(fb, /✓/);
    assert.match(fb, /\*/, 'the name is masked');
    assert.ok(!fb.includes(ids[i]), 'no ID number on screen');
  }
  // The tube sealed itself at 10; the same person again is refused.
  assert.match(await sampler.textContent('[data-testid=feedback]'), /封管/);
  assert.equal(await sampler.textContent('[data-testid=tube]'), '—');
  await sampler.keyboard.type('AB0000000002');
  await sampler.keyboard.press('Enter');
  await sampler.waitForFunction(() => document.querySelector('[data-testid=tube]').textContent === 'AB0000000002');
  await sampler.keyboard.type(ids[0]);
  await sampler.keyboard.press('Enter');
  await sampler.waitForFunction(() => document.querySelector('[data-testid=feedback]').textContent.includes('✗'));
  assert.match(await sampler.textContent('[data-testid=feedback]'), /已采样/);

  // The leader's list shrinks by ten without a reload.
  await leader.waitForFunction(
    (n) => document.querySelectorAll('[data-testid=missed-person]').length === n,
    missedBefore - 10,
    { timeout: 15_000 },
  );
  assert.equal(await leader.textContent('[data-testid=sampled]'), '10');
  // ...and reports the rest to the community.
  await Promise.all([leader.waitForNavigation(), leader.click('[data-testid=report-submit]')]);
  assert.match(await leader.textContent('[data-testid=reported]'), new RegExp(String(missedBefore - 10)));
  await Promise.all([cmd.close(), leader.close(), sampler.close()]);
});

test('a lab tech uploads a result file with one positive; members await individual results', async () => {
  assert.ok(round, 'the first test opened a round');
  const lab = await browser.newPage();
  await login(lab, server.url, 'lab_tech');
  await lab.goto(`${server.url}/testing/lab`);
  await lab.fill('[data-testid=receive-input]', TUBE);
  await Promise.all([lab.waitForNavigation(), lab.click('[data-testid=receive-submit]')]);
  assert.match(await lab.textContent('[data-testid=received]'), new RegExp(TUBE));

  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('结果');
  ws.addRow(['试管条码', '检测结果', 'Ct值']);
  ws.addRow([TUBE, '阳性', 28.5]);
  const dir = mkdtempSync(join(tmpdir(), 'cordon-lab-'));
  const file = join(dir, 'results.xlsx');
  writeFileSync(file, Buffer.from(await wb.xlsx.writeBuffer()));
  await lab.setInputFiles('[data-testid=results-file]', file);
  await Promise.all([lab.waitForNavigation(), lab.click('[data-testid=results-submit]')]);
  assert.equal(await lab.textContent('[data-testid=recorded]'), '1');
  assert.equal(await lab.locator('[data-testid=chase]').count(), 1);
  assert.equal(await lab.locator('[data-testid=awaiting]').count(), 10);
  assert.match(await lab.textContent('[data-testid=awaiting]'), /待单采复核/);

  // The tracer sees the ten members as awaiting individual results.
  const tracer = await browser.newPage();
  await login(tracer, server.url, 'tracer');
  await tracer.goto(`${server.url}/testing/alerts`);
  // (The demo has a positive pool of its own: count this tube's.)
  assert.equal(await tracer.locator('[data-testid=alert]', { hasText: TUBE }).count(), 1);
  assert.equal(await tracer.locator('[data-testid=mark][data-status=pending]', { hasText: TUBE }).count(), 10);
  await Promise.all([lab.close(), tracer.close()]);
});
