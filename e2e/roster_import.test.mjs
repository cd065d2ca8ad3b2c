// Browser test of rosters as community offices send them (issue 9 §4): a community
// worker exports the roster, puts a title row and a blank line above it, edits three
// rows, uploads it, sees the diff (3 changed, nothing written yet), applies it, and the
// register and the audit log follow; the error table of a bad file is paged and names the
// buildings that exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ExcelJS from 'exceljs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const dir = mkdtempSync(join(tmpdir(), 'cordon-roster-'));

async function save(wb, name) {
  const file = join(dir, name);
  writeFileSync(file, Buffer.from(await wb.xlsx.writeBuffer()));
  return file;
}

test('a community worker re-imports an edited export: preview, then apply', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'community_worker');
  const me = await (await page.request.get(`${server.url}/api/v1/me`)).json();
  const community = me.roots[0];
  const exported = await page.request.get(`${server.url}/export?area=${community}&format=xlsx`);
  assert.equal(exported.status(), 200);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(await exported.body());
  const ws = wb.worksheets[0];
  const header = ws.getRow(1).values; // 1-based, [0] empty
  const col = (name) => header.indexOf(name);
  const [idC, phoneC, bedC, roomC] = [col('身份证号'), col('手机号'), col('卧床'), col('房号')];
  const people = ws.rowCount - 1;
  assert.ok(people > 20, 'the community has a roster');

  // Three edits: a phone, a room, a flag.
  const text = (r, c) => String(ws.getRow(r).getCell(c).value ?? '');
  const edits = [2, 3, 4].map((r) => text(r, idC));
  ws.getRow(2).getCell(phoneC).value = text(2, phoneC) === '13900000009' ? '13900000008' : '13900000009';
  ws.getRow(3).getCell(roomC).value = '9909';
  ws.getRow(4).getCell(bedC).value = text(4, bedC) === '是' ? '否' : '是';
  // As an office sends it: a title row and a blank row above the header.
  ws.spliceRows(1, 0, ['某某社区居民花名册'], []);
  ws.mergeCells(1, 1, 1, 8);
  const file = await save(wb, 'roster.xlsx');

  await page.goto(`${server.url}/import`);
  await page.setInputFiles('[data-testid=import-file]', file);
  await page.click('[data-testid=import-submit]');
  await page.waitForSelector('[data-testid=import-report]');
  assert.equal(await page.textContent('[data-testid=error-count]'), '0');
  assert.equal(await page.textContent('[data-testid=diff-changed]'), '3');
  assert.equal(await page.textContent('[data-testid=diff-added]'), '0');
  assert.equal(await page.textContent('[data-testid=diff-moved]'), '0');
  assert.equal(Number(await page.textContent('[data-testid=diff-unchanged]')), people - 3);
  const changes = await page.locator('[data-testid=diff-change]').allTextContents();
  assert.equal(changes.length, 3);
  // Rows as the user sees them in the file: the header is row 3 now.
  assert.match(changes[0], /^\s*4\s*/);
  assert.match(changes[0], /手机号/);
  assert.match(changes[1], /住址/);
  assert.match(changes[1], /9909/);
  assert.match(changes[2], /标记/);
  assert.ok(!(await page.textContent('main')).includes(edits[0]), 'no ID number on the page');

  // Nothing written by the preview.
  // An ID number is searched by POST (never in a URL), with the session's CSRF token.
  const csrf = await page.locator('input[name=_csrf]').first().inputValue();
  const search = async (id) => (await (await page.request.post(`${server.url}/api/v1/residents/search`, { data: { q: id }, headers: { 'x-csrf-token': csrf } })).json());
  const before = await search(edits[1]);

  await Promise.all([page.waitForNavigation(), page.click('[data-testid=import-apply]')]);
  assert.equal(await page.locator('[data-testid=import-done]').count(), 1);
  assert.equal(await page.textContent('[data-testid=updated]'), '3');
  assert.equal(await page.textContent('[data-testid=imported]'), '0');
  const after = await search(edits[1]);
  assert.notDeepEqual(after, before);
  assert.match(JSON.stringify(after), /9909/);

  // A row deleted from the roster, with the box ticked: that resident moves out.
  const wb2 = new ExcelJS.Workbook();
  await wb2.xlsx.readFile(file);
  const ws2 = wb2.worksheets[0];
  ws2.spliceRows(10, 1);
  const fewer = await save(wb2, 'fewer.xlsx');
  await page.goto(`${server.url}/import`);
  await page.setInputFiles('[data-testid=import-file]', fewer);
  await page.click('[data-testid=import-submit]');
  await page.waitForSelector('[data-testid=import-report]');
  assert.equal(await page.textContent('[data-testid=diff-moved]'), '0', 'unticked: nobody moves out');
  await page.check('[data-testid=import-move-out]');
  await page.click('[data-testid=import-submit]');
  await page.waitForFunction(() => document.querySelector('[data-testid=diff-moved]')?.textContent === '1');
  assert.equal(await page.textContent('[data-testid=diff-changed]'), '0');
  assert.equal(await page.locator('[data-testid=diff-moved-row]').count(), 1);
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=import-apply]')]);
  assert.equal(await page.locator('[data-testid=import-done]').count(), 1);

  // The audit log has the updates: three changed, one moved out.
  await page.close();
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  const audit = await (await cmd.request.get(`${server.url}/api/v1/audit?action=resident.update`)).json();
  assert.ok(Array.isArray(audit), JSON.stringify(audit));
  const entries = audit;
  assert.equal(entries.filter((e) => /roster import/.test(e.detail)).length, 4);
  assert.equal(entries.filter((e) => /moved_out/.test(e.detail)).length, 1);
  await cmd.close();
});

test('a bad roster: the error table is paged and names the buildings that exist', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'community_worker');
  const me = await (await page.request.get(`${server.url}/api/v1/me`)).json();
  const community = me.roots[0];
  const compounds = (await (await page.request.get(`${server.url}/api/v1/areas/${community}`)).json()).children;
  const buildings = (await (await page.request.get(`${server.url}/api/v1/areas/${compounds[0].code}`)).json()).children;

  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('名册');
  ws.addRow(['小区', '楼栋', '单元', '房号', '姓名', '身份证号']);
  for (let i = 0; i < 45; i++) ws.addRow([compounds[0].name, '99号楼', '1单元', String(100 + i), '张三', '']);
  const file = await save(wb, 'bad.xlsx');
  await page.goto(`${server.url}/import`);
  await page.setInputFiles('[data-testid=import-file]', file);
  await page.click('[data-testid=import-submit]');
  await page.waitForSelector('[data-testid=error-table]');
  assert.equal(await page.textContent('[data-testid=error-count]'), '90');
  assert.equal(await page.locator('[data-testid=row-error]:visible').count(), 20);
  assert.equal(await page.textContent('[data-testid=error-page]'), '1 / 5');
  const first = await page.locator('[data-testid=row-error]:visible').allTextContents();
  assert.ok(first.some((t) => t.includes(buildings[0].name)), 'names an existing building');
  await page.click('[data-testid=error-next]');
  assert.equal(await page.textContent('[data-testid=error-page]'), '2 / 5');
  assert.equal(await page.locator('[data-testid=import-apply]').count(), 0, 'nothing to apply');
  await page.close();
});
