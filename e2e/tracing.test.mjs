// Browser test of tracing (issue 11): a lab positive makes a case traced at once; the
// tracer opens it, sees the trajectory and the candidates, confirms three close contacts;
// their codes turn red and they are in the to-isolate queue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
const TUBE = 'AB0000000711';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a lab positive becomes a traced case; three close contacts confirmed turn red and wait to be isolated', async () => {
  // The commander opens a single-tube round.
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  await cmd.selectOption('form[action="/testing/rounds"] select[name=pool_size]', '1');
  await Promise.all([cmd.waitForNavigation(), cmd.click('form[action="/testing/rounds"] button')]);
  const round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));
  assert.ok(round > 0);

  // The person: the first member of the largest household of the building leader's building.
  const leader = await browser.newPage();
  await login(leader, server.url, 'building_leader');
  const building = leader.url().split('/').pop();
  const roster = await (await leader.request.get(`${server.url}/api/v1/buildings/${building}/roster`)).json();
  const households = roster.map((h) => h.members.filter((m) => m.status === 'active')).sort((a, b) => b.length - a.length);
  const person = households[0][0];

  // The sampler swabs them alone; the lab reports the tube positive.
  const sampler = await browser.newPage();
  await login(sampler, server.url, 'sampler');
  await sampler.goto(`${server.url}/testing/rounds/${round}/scan`);
  await sampler.keyboard.type(TUBE);
  await sampler.keyboard.press('Enter');
  await sampler.waitForFunction((t) => document.querySelector('[data-testid=tube]').textContent === t, TUBE);
  await sampler.keyboard.type(person.id_number);
  await sampler.keyboard.press('Enter');
  await sampler.waitForFunction(() => document.querySelector('[data-testid=feedback]').textContent.includes('✓'));
  const lab = await browser.newPage();
  await login(lab, server.url, 'lab_tech');
  await lab.goto(`${server.url}/testing/lab`);
  await lab.fill('[data-testid=receive-input]', TUBE);
  await Promise.all([lab.waitForNavigation(), lab.click('[data-testid=receive-submit]')]);
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('结果');
  ws.addRow(['试管条码', '检测结果', 'Ct值']);
  ws.addRow([TUBE, '阳性', 24.1]);
  const dir = mkdtempSync(join(tmpdir(), 'cordon-trace-'));
  const file = join(dir, 'results.xlsx');
  writeFileSync(file, Buffer.from(await wb.xlsx.writeBuffer()));
  await lab.setInputFiles('[data-testid=results-file]', file);
  await Promise.all([lab.waitForNavigation(), lab.click('[data-testid=results-submit]')]);
  assert.equal(await lab.textContent('[data-testid=recorded]'), '1');

  // The tracer's work list has the case with its tasks due; the case page its trajectory
  // and candidates.
  const tracer = await browser.newPage();
  await tracer.setViewportSize({ width: 390, height: 844 });
  await login(tracer, server.url, 'tracer');
  await tracer.goto(`${server.url}/tracing`);
  const cases = await (await tracer.request.get(`${server.url}/api/v1/cases`)).json();
  const mine = cases.cases.find((c) => c.resident_id === person.id);
  assert.ok(mine, 'the positive is a case on the work list');
  assert.ok(await tracer.locator(`[data-testid=case-row][data-case="${mine.id}"]`).count() === 1);
  await Promise.all([tracer.waitForNavigation(), tracer.click(`[data-testid=case-row][data-case="${mine.id}"] [data-testid=open-case]`)]);
  const detail = await (await tracer.request.get(`${server.url}/api/v1/cases/${mine.id}`)).json();
  assert.ok(
    await tracer.locator('[data-testid=place][data-kind=sampling]').count() >= 1,
    'the sampling event is on the trajectory: ' + JSON.stringify(detail.places),
  );
  assert.equal(await tracer.locator('[data-testid=place][data-kind=household]').count(), 1);
  const close = tracer.locator('[data-testid=candidates-close] [data-testid=candidate]');
  const n = await close.count();
  assert.ok(n >= 3, `at least three close-contact candidates (found ${n})`);
  // Keep three ticked, confirm them in one action.
  const boxes = tracer.locator('[data-testid=candidates-close] input[name=candidate]');
  for (let i = 3; i < n; i++) await boxes.nth(i).uncheck();
  await Promise.all([tracer.waitForNavigation(), tracer.click('[data-testid=confirm-close]')]);
  const contacts = tracer.locator('[data-testid=contact][data-class=close]');
  assert.equal(await contacts.count(), 3);
  assert.equal(await tracer.locator('[data-testid=queue-status][data-status=waiting]').count(), 3);
  await tracer.screenshot({ path: join(dir, 'case.png'), fullPage: true });

  // Their codes are red at once.
  const hrefs = await tracer.locator('[data-testid=contact][data-class=close] [data-testid=contact-code]').evaluateAll(
    (els) => els.map((e) => e.getAttribute('href')),
  );
  assert.equal(hrefs.length, 3);
  for (const href of hrefs) {
    await tracer.goto(server.url + href);
    assert.equal(await tracer.getAttribute('[data-testid=health-code]', 'data-colour'), 'red', href);
  }
  console.log('screenshot', join(dir, 'case.png'));
  await Promise.all([cmd.close(), leader.close(), sampler.close(), lab.close(), tracer.close()]);
});
