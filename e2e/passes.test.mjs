// Browser test of issuing a pass (issue 9 §5): the holder is picked from a search by name
// or ID number, not typed as an internal resident number.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

test('a community worker picks a pass holder by name or ID number', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'community_worker');
  const me = await (await page.request.get(`${server.url}/api/v1/me`)).json();
  const csv = await (await page.request.get(`${server.url}/export?area=${me.roots[0]}&format=csv`)).text();
  const [name, idNumber] = csv.replace(/^\uFEFF/, '').split(/\r?\n/)[1].split(',');

  await page.goto(`${server.url}/passes`);
  const match = page.locator('[data-testid=holder-match]');
  // By name: everyone of that name in the area.
  await page.fill('[data-testid=holder-q]', name);
  await match.first().waitFor();
  for (const t of await match.allTextContents()) assert.ok(t.startsWith(name), t);
  // By ID number: exactly that person.
  await page.fill('[data-testid=holder-q]', idNumber);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=holder-match]').length === 1);
  assert.equal(await match.count(), 1, 'a full ID number finds one person');
  const shown = await match.first().textContent();
  assert.ok(shown.includes(name), shown);
  assert.ok(!shown.includes(idNumber), 'the ID number is masked in the list');
  await match.first().click();
  assert.match(await page.textContent('[data-testid=holder-matches]'), new RegExp(name));
  assert.ok(Number(await page.inputValue('[data-testid=holder-id]')) > 0);
  await page.fill('input[name=purpose]', '医护人员');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/passes"] button.primary')]);
  assert.match(page.url(), /\/passes\/\d+$/);
  assert.ok((await page.textContent('main')).includes(name.slice(0, 1)), 'the pass names its holder (masked)');
  await page.close();
});
