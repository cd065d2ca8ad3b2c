// Browser tests of the registry foundation (issue 2): scoping of a building leader,
// the language switch, and a community worker's import with a bad row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, login, idNumber } from './support.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a building leader sees only their building', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'building_leader');
  // Lands on the roster of their building.
  assert.match(page.url(), /\/buildings\/\d{18}$/);
  const building = page.url().split('/').pop();
  const households = Number(await page.textContent('[data-testid=households]'));
  assert.ok(households > 0, 'the roster lists households');
  assert.equal(await page.locator('[data-testid=household]').count(), households);
  assert.ok((await page.textContent('main')).includes('楼栋名册') || (await page.title()).includes('楼栋名册'));

  // Any other building, or the district, is refused.
  const sibling = building.slice(0, 15) + String(Number(building.slice(15)) + 1).padStart(3, '0');
  const r1 = await page.goto(`${server.url}/buildings/${sibling}`);
  assert.equal(r1.status(), 403);
  assert.match(await page.textContent('[data-testid=error]'), /管辖范围/);
  const r2 = await page.goto(`${server.url}/areas/141102`);
  assert.equal(r2.status(), 403);
  const r3 = await page.goto(`${server.url}/api/v1/areas/141102`);
  assert.equal(r3.status(), 403);
  assert.equal((await r3.json()).code, 'forbidden_scope');
  await page.close();
});

test('switching to English and back', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'building_leader');
  assert.equal(await page.textContent('[data-testid=lang-switch]'), 'English');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-switch]')]);
  assert.match(await page.textContent('main'), /Households/);
  assert.match(await page.textContent('header'), /Log out/);
  assert.match(page.url(), /\/buildings\/\d{18}$/, 'stays on the same page');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-switch]')]);
  assert.match(await page.textContent('header'), /退出/);
  await page.close();
});

test('a community worker imports an .xlsx with one bad row and sees the report', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'community_worker');
  // A unit of their community, from the API (same session cookie).
  const me = await (await page.request.get(`${server.url}/api/v1/me`)).json();
  const community = me.roots[0];
  const compounds = (await (await page.request.get(`${server.url}/api/v1/areas/${community}`)).json()).children;
  const buildings = (await (await page.request.get(`${server.url}/api/v1/areas/${compounds[0].code}`)).json()).children;
  const units = (await (await page.request.get(`${server.url}/api/v1/areas/${buildings[0].code}`)).json()).children;
  const unit = units[0].code;
  const before = (await (await page.request.get(`${server.url}/api/v1/areas/${community}`)).json()).residents;

  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('居民');
  ws.addRow(['姓名', '身份证号', '手机号', '单元编码', '房号']);
  ws.addRow(['赵新民', idNumber('14110219750301123'), '13912345678', unit, '9901']);
  ws.addRow(['钱小红', idNumber('14110219800412124'), '13812345670', unit, '9901']);
  const bad = idNumber('14110219900101125');
  const wrongCheck = bad.slice(0, 17) + (bad[17] === '0' ? '1' : '0');
  ws.addRow(['孙大伟', wrongCheck, '13712345671', unit, '9902']);
  const dir = mkdtempSync(join(tmpdir(), 'cordon-xlsx-'));
  const file = join(dir, 'residents.xlsx');
  writeFileSync(file, Buffer.from(await wb.xlsx.writeBuffer()));

  await page.goto(`${server.url}/import`);
  await page.setInputFiles('[data-testid=import-file]', file);
  // The check is a preview shown in place; the apply is a second step.
  await page.click('[data-testid=import-submit]');
  await page.waitForSelector('[data-testid=import-report]');
  const report = page.locator('[data-testid=import-report]');
  assert.equal(await report.count(), 1);
  assert.equal(await page.textContent('[data-testid=error-count]'), '1');
  assert.equal(await page.textContent('[data-testid=imported]'), '0');
  const rowError = await page.textContent('[data-testid=row-error]');
  assert.match(rowError, /^\s*4/, 'names spreadsheet row 4');
  assert.match(rowError, /身份证号/);
  assert.match(rowError, /校验/);
  assert.equal(await page.locator('[data-testid=import-apply]').count(), 0, 'all or nothing: no apply with a bad row');
  const after = (await (await page.request.get(`${server.url}/api/v1/areas/${community}`)).json()).residents;
  assert.equal(after, before, 'nothing was imported');

  // Choosing "import the valid rows" imports the other two.
  await page.goto(`${server.url}/import`);
  await page.setInputFiles('[data-testid=import-file]', file);
  await page.check('input[value=valid_rows_only]');
  await page.click('[data-testid=import-submit]');
  await page.waitForSelector('[data-testid=import-apply]');
  assert.equal(await page.textContent('[data-testid=diff-added]'), '2');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=import-apply]')]);
  assert.equal(await page.textContent('[data-testid=imported]'), '2');
  const after2 = (await (await page.request.get(`${server.url}/api/v1/areas/${community}`)).json()).residents;
  assert.equal(after2, before + 2);
  await page.close();
});
