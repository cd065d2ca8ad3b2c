// Browser test of instructions that fit the reason (issue 9 §3): a pool turns positive; the
// guard logs in on a phone and lands on the gate's scan page; the pooled resident is told
// to wait at home for the re-sample, the household member under home control to stay
// home; a venue refuses that member's check-in; a vehicle pass has one verdict; the last
// scans read in words.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const SHOTS = process.env.CORDON_SHOTS || '/tmp/cordon-shots';
const TUBE = 'IN0000000001';

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const submit = (page, selector) => Promise.all([page.waitForNavigation(), page.click(selector)]);

async function tokenOf(page, residentId) {
  await page.goto(`${server.url}/residents/${residentId}/code`);
  return (await page.textContent('[data-testid=token]')).trim();
}

async function scanByKeyboard(page, token) {
  await page.focus('[data-testid=scan-input]');
  await page.keyboard.type(token);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const v = page.locator('[data-testid=verdict]');
  return { allowed: await v.getAttribute('data-allowed'), colour: await v.getAttribute('data-colour'), text: await v.textContent() };
}

test('the gate and the venue say what to do for the reason', async () => {
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  await submit(cmd, 'form[action="/testing/rounds"] button');
  const round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));

  // A household of two: one member into a tube that turns positive.
  const leader = await browser.newPage();
  await login(leader, server.url, 'building_leader');
  const building = leader.url().split('/').pop();
  const roster = await (await leader.request.get(`${server.url}/api/v1/buildings/${building}/roster`)).json();
  const household = roster.map((h) => h.members.filter((m) => m.status === 'active')).find((m) => m.length >= 2);
  const [pooled, atHome] = household;
  const sampler = await browser.newPage(PHONE);
  await login(sampler, server.url, 'sampler');
  await sampler.goto(`${server.url}/testing/rounds/${round}/scan`);
  for (const text of [TUBE, pooled.id_number]) {
    await sampler.focus('[data-testid=scan-input]');
    await sampler.keyboard.type(text);
    await sampler.keyboard.press('Enter');
    await sampler.waitForFunction(() => /已开启|✓/.test(document.querySelector('[data-testid=feedback]').textContent));
  }
  await sampler.click('[data-testid=seal]');
  await sampler.waitForFunction(() => document.querySelector('[data-testid=tube]').textContent === '—');
  const lab = await browser.newPage();
  await login(lab, server.url, 'lab_tech');
  await lab.goto(`${server.url}/testing/lab`);
  await lab.fill('[data-testid=receive-input]', TUBE);
  await submit(lab, '[data-testid=receive-submit]');
  await lab.fill('form[action="/testing/lab/result"] input[name=tube]', TUBE);
  await lab.selectOption('form[action="/testing/lab/result"] select[name=result]', 'positive');
  await submit(lab, 'form[action="/testing/lab/result"] button');

  const pooledToken = await tokenOf(cmd, pooled.id);
  const homeToken = await tokenOf(cmd, atHome.id);
  // A vehicle pass for the community.
  await cmd.goto(`${server.url}/passes`);
  await cmd.selectOption('select[name=holder_kind]', 'vehicle');
  await cmd.fill('input[name=plate]', '晋K12345');
  await cmd.fill('input[name=purpose]', '生活物资配送');
  await cmd.fill('input[name=scope]', building.slice(0, 12));
  await submit(cmd, 'form[action="/passes"] button');
  const vanToken = (await cmd.locator('details code').textContent()).trim();

  // The guard logs in and is on the gate's scan page straight away.
  const guard = await browser.newPage(PHONE);
  await login(guard, server.url, 'checkpoint_guard');
  assert.match(guard.url(), /\/checkpoints\/\d+\/scan$/, 'the guard lands on the scan page');
  const home = await scanByKeyboard(guard, homeToken);
  assert.equal(home.allowed, 'false');
  assert.match(home.text, /居家管控/);
  assert.match(home.text, /足不出户/);
  await guard.screenshot({ path: `${SHOTS}/gate-home-control-phone.png` });
  const pool = await scanByKeyboard(guard, pooledToken);
  assert.equal(pool.allowed, 'false');
  assert.match(pool.text, /单管复采/);
  const van = await scanByKeyboard(guard, vanToken);
  assert.equal(van.allowed, 'true');
  assert.equal(van.colour, 'pass');
  assert.match(van.text, /通行证有效/);
  assert.doesNotMatch(van.text, /无效码/, 'one verdict for a valid vehicle pass');
  const words = await guard.locator('[data-testid=recent-words]').allTextContents();
  assert.deepEqual(words.slice(0, 3), ['车辆通行证有效', '黄码', '黄码']);
  assert.ok(words.every((w) => !/^[a-z_]+$/.test(w)), `in words: ${words}`);
  await guard.screenshot({ path: `${SHOTS}/gate-recent-phone.png`, fullPage: true });

  // The venue refuses the member under home control, and says why.
  await cmd.goto(`${server.url}/venues`);
  await submit(cmd, 'a[href^="/venues/"]');
  await cmd.fill('input[name=token]', homeToken);
  await submit(cmd, 'form[action$="/checkins"] button');
  const result = await cmd.textContent('[data-testid=checkin-result]');
  assert.match(result, /未登记/);
  assert.match(result, /居家管控/);
  assert.doesNotMatch(result, /^已登记/);
  await Promise.all([cmd.close(), leader.close(), sampler.close(), lab.close(), guard.close()]);
});
