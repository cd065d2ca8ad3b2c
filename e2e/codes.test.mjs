// Browser tests of health codes (issue 4): a guard scans a green and a yellow code with
// the keyboard (as a wedge scanner types them), a commander marks a building high-risk
// and a resident's code turns yellow with that reason, a building leader prints the
// building's code cards.
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

async function submitAndWait(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

// The commander designates `area` with `level` through the zones form.
async function designate(page, area, level, reason) {
  await page.goto(`${server.url}/zones?area=${area}`);
  assert.equal(await page.inputValue('input[name=area_code]'), area);
  await page.selectOption('select[name=level]', level);
  await page.fill('input[name=reason]', reason);
  await submitAndWait(page, '[data-testid=zone-submit]');
  assert.match(await page.textContent('main'), /已划定/);
}

// A resident of `building` (first member of the roster) and their current token.
async function residentToken(page, building, colour) {
  await page.goto(`${server.url}/buildings/${building}`);
  // The demo's other work (cases, quarantine orders, a positive pool) colours some
  // residents; with `colour`, take the first member the roster shows in that colour.
  const member = colour
    ? page.locator('[data-testid=member]', { has: page.locator(`[data-testid=member-colour][data-colour=${colour}]`) }).first()
    : page.locator('[data-testid=member]').first();
  const href = await member.locator('a[href^="/residents/"]').first().getAttribute('href');
  await page.goto(`${server.url}${href}/code`);
  const token = (await page.textContent('[data-testid=token]')).trim();
  assert.match(token, /^CD1\./);
  return { href, token, colour: await page.getAttribute('[data-testid=health-code]', 'data-colour') };
}

async function scanByKeyboard(page, token) {
  await page.focus('[data-testid=scan-input]');
  await page.keyboard.type(token);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const verdict = page.locator('[data-testid=verdict]');
  return {
    colour: await verdict.getAttribute('data-colour'),
    allowed: await verdict.getAttribute('data-allowed'),
    decision: await page.textContent('[data-testid=decision]'),
    name: await page.textContent('[data-testid=masked-name]'),
    text: await verdict.textContent(),
  };
}

test('a guard scans a green and a yellow code with the keyboard', async () => {
  const commander = await browser.newPage();
  await login(commander, server.url, 'commander');
  // Every building of the district, walking the tree through the API (the demo district
  // is small: a compound may hold a single building).
  const buildings = [];
  const walk = async (code) => {
    const r = await commander.request.get(`${server.url}/api/v1/areas/${code}`);
    const a = await r.json();
    if (a.level === 'building') { buildings.push(code); return; }
    for (const c of a.children) await walk(c.code);
  };
  await walk('141102');
  assert.ok(buildings.length >= 3, 'the district has several buildings');
  // The first building is the building leader's (the next test's); use two others.
  const [, yellowBuilding, greenBuilding] = buildings;
  await designate(commander, yellowBuilding, 'high', '确诊病例居住');
  const green = await residentToken(commander, greenBuilding, 'green');
  const yellow = await residentToken(commander, yellowBuilding, 'yellow');
  assert.equal(green.colour, 'green');
  assert.equal(yellow.colour, 'yellow');

  const guard = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await login(guard, server.url, 'checkpoint_guard');
  await guard.goto(`${server.url}/checkpoints`);
  assert.match(guard.url(), /\/checkpoints\/\d+\/scan$/, 'a guard with one checkpoint lands on its scan page');
  // The input has the focus on arrival: a wedge scanner can type straight away.
  assert.equal(await guard.evaluate(() => document.activeElement?.name), 'token');

  const g = await scanByKeyboard(guard, green.token);
  assert.equal(g.colour, 'green');
  assert.equal(g.allowed, 'true');
  assert.match(g.decision, /放行/);
  assert.match(g.name, /^.\*+.?$|^.\*$/, 'the name is masked');
  assert.equal(await guard.evaluate(() => document.activeElement?.name), 'token', 'ready for the next scan');

  const y = await scanByKeyboard(guard, yellow.token);
  assert.equal(y.colour, 'yellow');
  assert.equal(y.allowed, 'false');
  assert.match(y.decision, /禁止通行/);
  assert.match(y.text, /高风险区/);
  // What to do follows the worst reason: the zone's rule (protocol-9: stay at home), or the
  // demo's centralised quarantine where the resident is under it.
  assert.match(y.text, /足不出户|集中隔离期间不得外出/, 'tells what to do for the reason: ' + y.text);
  // Both scans are in the last-scans list.
  assert.equal(await guard.locator('[data-testid=recent] tr').count(), 2);
  await guard.close();
  await commander.close();
});

test('a commander marks a building high-risk and a resident turns yellow with that reason', async () => {
  const leader = await browser.newPage();
  await login(leader, server.url, 'building_leader');
  const building = leader.url().split('/').pop();
  const before = await residentToken(leader, building);
  assert.equal(before.colour, 'green');
  await leader.close();

  const page = await browser.newPage();
  await login(page, server.url, 'commander');
  await page.goto(`${server.url}/buildings/${building}`);
  const buildingName = (await page.textContent('[data-testid=building-title]')).trim().split(/\s+/)[0];
  await submitAndWait(page, `a[href="/zones?area=${building}"]`);
  await page.selectOption('select[name=level]', 'high');
  await page.fill('input[name=reason]', '发现阳性病例');
  await submitAndWait(page, '[data-testid=zone-submit]');
  assert.match(await page.textContent('[data-testid=open-zone]:first-child'), /高风险区/);

  await page.goto(`${server.url}${before.href}/code`);
  assert.equal(await page.getAttribute('[data-testid=health-code]', 'data-colour'), 'yellow');
  const reasons = await page.textContent('[data-testid=reasons]');
  assert.match(reasons, /高风险区/);
  assert.ok(reasons.includes(buildingName), `the reason names the building (${buildingName}): ${reasons}`);
  // The area tree shows the zone.
  await page.goto(`${server.url}/buildings/${building}`);
  assert.match(await page.textContent('[data-testid=zone-badge]'), /高风险区/);
  await page.close();
});

test('a building leader prints the building code cards', async () => {
  const page = await browser.newPage();
  await login(page, server.url, 'building_leader');
  const residents = Number(await page.textContent('[data-testid=residents]'));
  await submitAndWait(page, '[data-testid=print-cards]');
  assert.match(page.url(), /\/buildings\/\d{18}\/cards$/);
  const cards = page.locator('[data-testid=code-card]');
  // By default only those who need a printed card (no smartphone, elderly, bedridden).
  const needed = await cards.count();
  assert.ok(needed > 0 && needed < residents, `${needed} of ${residents} need a card`);
  assert.equal(Number(await page.textContent('[data-testid=card-count]')), needed);
  // On a phone the sheet fits the screen's width.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling on a phone');
  await page.setViewportSize({ width: 1280, height: 900 });
  // Everyone on request.
  await submitAndWait(page, '[data-testid=cards-all]');
  assert.equal(await cards.count(), residents, 'one card per resident');
  assert.equal(await page.locator('[data-testid=code-card] svg').count(), residents, 'each card has its QR');
  const first = await cards.first().textContent();
  assert.match(first, /\*/, 'names are masked');
  assert.doesNotMatch(first, /\d{17}[\dX]/, 'no full ID number');
  // Printed: A4 pages of 8 cards, without the navigation.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('header.top'), false);
  const pdf = await page.pdf({ format: 'A4', printBackground: true });
  assert.equal(pdf.subarray(0, 4).toString(), '%PDF');
  const pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert.equal(pages, Math.ceil(residents / 8), `${residents} cards on ${pages} pages`);
  await page.close();
});
