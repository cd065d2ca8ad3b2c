// Browser tests of door-knocking (SPEC 敲门行动, issue 3 item 6): a grid worker works
// their grid's missed households in a fresh round. Tasks for three households; one is
// sampled at the door with a single tube per member and leaves the missed list; on a
// phone the open tasks come first and their forms use the width; a malformed barcode is
// flagged before sending, and it and a reused barcode are refused on the page itself, next
// to the member's field with everything typed kept, and the task stays open; "wrong data:
// moved out" takes a member off the list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser, worker;
let round;
const picked = []; // the three households given tasks: {id, hid, unit, room, members: [{id, name}]}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const tasksUrl = () => `${server.url}/testing/rounds/${round}/tasks`;

// The missed households on the grid worker's tasks page, as shown.
async function missedHouseholds(page) {
  return page.locator('[data-testid=missed-household]').evaluateAll((rows) =>
    rows.map((r) => ({
      id: r.querySelector('input[name=household]')?.value ?? null,
      hid: r.dataset.household,
      unit: r.dataset.unit,
      tag: r.querySelector('.tag')?.textContent ?? null,
      room: r.querySelector('td.room').textContent.trim().replace(/\s+/g, ' '),
      members: [...r.querySelectorAll('.member')].map((m) => ({
        id: m.querySelector('small').textContent.replace('#', ''),
        name: m.firstChild.textContent.trim(),
      })),
    })),
  );
}

// The task of a household, and that household on the missed list.
const taskRow = (page, h) => page.locator(`[data-testid=task][data-household="${h.hid}"]`);
const missedOf = (households, h) => households.find((x) => x.hid === h.hid);

// Expected / sampled / missing of a building's missed list (the 楼长's page, open to the grid worker).
async function buildingCounts(page, building) {
  await page.goto(`${server.url}/testing/rounds/${round}/buildings/${building}/missed`);
  const n = async (sel) => Number(await page.textContent(sel));
  return {
    expected: await n('[data-k=expected]'),
    sampled: await n('[data-testid=sampled]'),
    missing: await n('[data-testid=missing-count]'),
    people: await page.locator('[data-testid=missed-person]').allTextContents(),
  };
}

const buildingOf = (h) => h.unit.slice(0, 18);
// How often a name is on a building's missed list (names can repeat in a building).
const named = (people, name) => people.filter((p) => p.startsWith(name + ' ') || p === name).length;
// A name as the page masks it next to a refusal (张*明, 张*, 欧**华).
const masked = (name) => {
  const c = [...name];
  return c.length === 1 ? '*' : c.length === 2 ? c[0] + '*' : c[0] + '*'.repeat(c.length - 2) + c[c.length - 1];
};
// The "saved" line after an outcome, spaces collapsed.
const savedLine = async (page) => (await page.textContent('[data-testid=saved]')).trim().replace(/\s+/g, ' ');
// The tube field of a member in a task's form.
const tubeField = (row, m) =>
  row.locator('fieldset[data-outcome=sampled_at_door] label', { hasText: `#${m.id}` }).locator('input');

test('a grid worker creates door-knock tasks and samples a household at the door', async () => {
  // The commander opens a round for today: everyone of the grid is missing in it.
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  await Promise.all([cmd.waitForNavigation(), cmd.click('form[action="/testing/rounds"] button')]);
  round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));
  assert.ok(round > 1, 'a round besides the demo one');
  await cmd.close();

  // The grid worker finds the round's door-knock page from the testing page.
  worker = await browser.newPage();
  await login(worker, server.url, 'grid_worker');
  await worker.goto(`${server.url}/testing`);
  await Promise.all([worker.waitForNavigation(), worker.click(`a[href="/testing/rounds/${round}/tasks"]`)]);
  assert.equal(new URL(worker.url()).pathname, `/testing/rounds/${round}/tasks`);
  assert.match(await worker.textContent('h1'), new RegExp(`#${round}`));
  assert.equal(await worker.locator('[data-testid=task]').count(), 0, 'no task yet in the new round');

  const all = await missedHouseholds(worker);
  assert.ok(all.length >= 3, 'the grid has households to knock on');
  assert.ok(all.every((h) => h.id && !h.tag), 'every household can be picked');
  // Three households of two or more members, in one building.
  const building = buildingOf(all[0]);
  picked.push(...all.filter((h) => h.members.length >= 2 && buildingOf(h) === building).slice(0, 3));
  assert.equal(picked.length, 3, 'three households of two or more');
  const start = await buildingCounts(worker, building);
  assert.equal(start.sampled, 0);
  assert.equal(start.missing, start.expected);
  assert.equal(start.people.length, start.missing);

  // Tick the three and create their tasks.
  await worker.goto(tasksUrl());
  for (const h of picked) await worker.check(`input[name=household][value="${h.id}"]`);
  await Promise.all([worker.waitForNavigation(), worker.click('form[action$="/tasks"] button.primary')]);
  assert.equal(new URL(worker.url()).pathname, `/testing/rounds/${round}/tasks`);
  assert.equal(await worker.locator('[data-testid=task]').count(), 3);
  assert.equal(await worker.locator('[data-testid=outcome-form]').count(), 3, 'all three open');
  let now = await missedHouseholds(worker);
  assert.equal(now.length, all.length, 'a task takes nobody off the missed list');
  for (const h of picked) {
    const row = missedOf(now, h);
    assert.equal(row.id, null, `${h.room}: no checkbox once it has a task`);
    assert.match(row.tag, /^#\d+$/);
    assert.ok(/单元 \S+$/.test(h.room) && !/\d{20}/.test(h.room), `${h.room}: the unit by name, then the room`);
    const taskRoom = (await taskRow(worker, h).locator('.room').textContent()).trim().replace(/\s+/g, ' ');
    assert.equal(taskRoom, h.room, 'the task names the room as the missed list does');
    assert.equal(await taskRow(worker, h).count(), 1, `${h.room}: one task row`);
  }

  // Household A: every missing member swabbed at the door, one single tube each.
  const a = picked[0];
  const row = taskRow(worker, a);
  await row.locator('select[name=outcome]').selectOption({ label: '已上门采样' });
  const tubes = row.locator('fieldset[data-outcome=sampled_at_door]');
  assert.ok(await tubes.isVisible(), 'the tube fields show for 上门采样');
  assert.ok(await row.locator('fieldset[data-outcome=wrong_data]').isHidden(), 'the correction fields do not');
  for (let i = 0; i < a.members.length; i++) {
    await tubes.locator('label', { hasText: `#${a.members[i].id}` }).locator('input').fill(`dd${String(i + 1).padStart(10, '0')}`);
  }
  await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
  assert.equal(new URL(worker.url()).pathname, `/testing/rounds/${round}/tasks`);
  assert.match(await savedLine(worker), new RegExp(`^已保存敲门结果 · #\\d+ · ${a.room} · 已上门采样$`));
  assert.equal(await taskRow(worker, a).locator('[data-testid=outcome-form]').count(), 0, 'task A is done');
  assert.match(await taskRow(worker, a).textContent(), /已上门采样/);
  assert.equal(await worker.locator('[data-testid=outcome-form]').count(), 2, 'the other two still open');
  now = await missedHouseholds(worker);
  assert.equal(now.length, all.length - 1, 'household A left the missed list');
  assert.ok(!missedOf(now, a));

  // The building's numbers moved by A's members.
  const after = await buildingCounts(worker, building);
  assert.equal(after.expected, start.expected);
  assert.equal(after.sampled, a.members.length);
  assert.equal(after.missing, start.missing - a.members.length);
  assert.equal(after.people.length, after.missing);
  for (const m of a.members) {
    assert.equal(named(after.people, m.name), named(start.people, m.name) - 1, `${m.name} is off the list`);
  }
});

test('on a 390 px phone the open tasks come first and their forms use the width', async () => {
  assert.ok(picked.length === 3, 'the first test created the tasks');
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await login(phone, server.url, 'grid_worker');
  await phone.goto(tasksUrl());
  const box = (sel) => phone.locator(sel).first().boundingBox();
  const open = await box('[data-testid=task]:has([data-testid=outcome-form])');
  const missed = await box('#missed');
  assert.ok(open.y < missed.y, 'the open tasks are above the household picker');
  assert.equal(await phone.locator('a[href="#missed"]').count(), 1, 'a link down to the picker');
  const form = await box('[data-testid=outcome-form]');
  assert.ok(form.width >= 330, `the outcome form uses the width (${form.width}px of 390)`);
  // No outcome is chosen for the worker: the tube fields show once 上门采样 is.
  assert.ok(await phone.locator('[data-testid=outcome-form] fieldset[data-outcome=sampled_at_door]').first().isHidden());
  await phone.locator('[data-testid=outcome-form] select[name=outcome]').first().selectOption('sampled_at_door');
  const input = await box('[data-testid=outcome-form] fieldset[data-outcome=sampled_at_door] input');
  assert.ok(input.width >= 280, `a tube field is wide enough to read (${input.width}px)`);
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scrolling');
  // The tube fields are set up for a phone and a scanner: the pattern, no autocorrect.
  const attrs = await phone.locator('input[name^=tube_]').first().evaluate((i) =>
    ['pattern', 'inputmode', 'autocapitalize', 'autocomplete', 'spellcheck'].map((a) => i.getAttribute(a)));
  assert.deepEqual(attrs, ['[A-Za-z][A-Za-z][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]', 'text', 'characters', 'off', 'false']);
  await phone.close();
});

test('a malformed or reused tube barcode is refused by name and the task stays open', async () => {
  assert.ok(picked.length === 3, 'the first test created the tasks');
  const b = picked[1];
  const [m0, m1] = b.members;
  await worker.goto(tasksUrl());
  let row = taskRow(worker, b);
  await row.locator('select[name=outcome]').selectOption({ label: '已上门采样' });

  // A typo is flagged in the browser: the form is not sent.
  await tubeField(row, m0).fill('bad');
  assert.equal(await tubeField(row, m0).evaluate((i) => i.validity.patternMismatch), true);
  let navigated = false;
  const onNav = () => { navigated = true; };
  worker.on('framenavigated', onNav);
  await row.locator('button').click();
  await worker.waitForTimeout(500);
  worker.off('framenavigated', onNav);
  assert.equal(navigated, false, 'a malformed barcode is not sent');

  // The server decides all the same: sent without the browser's check, it is refused on the
  // tasks page itself, next to the member's field, naming the field and the member (masked),
  // with everything typed still filled in.
  await tubeField(row, m1).fill('dd0000000102');
  await row.locator('input[name=note]').fill('二次上门');
  await row.locator('form').evaluate((f) => { f.noValidate = true; });
  let [resp] = await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
  assert.equal(resp.status(), 422);
  row = taskRow(worker, b);
  const refusal = async () => {
    assert.equal(await worker.locator('[data-testid=field-error]').count(), 1, 'one refusal on the page');
    const err = row.locator('[data-testid=field-error]');
    assert.equal(await tubeField(row, m0).evaluate((i) => i.closest('label').nextElementSibling?.dataset.testid), 'field-error',
      `the refusal is next to ${m0.name}'s field`);
    assert.equal(await tubeField(row, m0).getAttribute('aria-invalid'), 'true');
    assert.ok(await err.isVisible());
    return (await err.textContent()).replace(/\s+/g, ' ');
  };
  let err = await refusal();
  assert.match(err, new RegExp(`试管条码：试管条码格式不正确，应为 AA9999999999（A为字母，9为数字）（${masked(m0.name).replace(/\*/g, '\\*')}）`));
  assert.match(err, /barcode_invalid/);
  assert.doesNotMatch(err, /居民 #/);
  assert.equal(await tubeField(row, m0).inputValue(), 'bad');
  assert.equal(await tubeField(row, m1).inputValue(), 'dd0000000102');
  assert.equal(await row.locator('input[name=note]').inputValue(), '二次上门');
  assert.equal(await row.locator('select[name=outcome]').inputValue(), 'sampled_at_door');
  assert.ok(await row.locator('fieldset[data-outcome=sampled_at_door]').isVisible());
  // Nothing written: the task is still open and the household still missed.
  assert.equal(await row.locator('[data-testid=outcome-form]').count(), 1, 'task B still open');
  assert.deepEqual(missedOf(await missedHouseholds(worker), b)?.members, b.members);

  // A tube already used for household A, corrected on the same page: the store refuses it,
  // shown the same way, the other member's barcode still there.
  await tubeField(row, m0).fill('DD0000000001');
  [resp] = await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
  assert.equal(resp.status(), 422);
  err = await refusal();
  assert.match(err, new RegExp(`试管条码：该试管条码已使用，请换一支新管（${masked(m0.name).replace(/\*/g, '\\*')}）`));
  assert.match(err, /tube_used/);
  assert.equal(await tubeField(row, m0).inputValue(), 'DD0000000001');
  assert.equal(await tubeField(row, m1).inputValue(), 'dd0000000102');
  await worker.goto(tasksUrl());
  assert.equal(await taskRow(worker, b).locator('[data-testid=outcome-form]').count(), 1, 'task B still open');

  // A new tube for the first member only: the others stay missed and can get a new task.
  row = taskRow(worker, b);
  await row.locator('select[name=outcome]').selectOption({ label: '已上门采样' });
  await tubeField(row, m0).fill('DD0000000101');
  [resp] = await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
  assert.equal(resp.status(), 200);
  assert.match(await savedLine(worker), new RegExp(`· ${b.room} · 已上门采样$`));
  assert.match(await taskRow(worker, b).textContent(), /已上门采样/);
  const left = missedOf(await missedHouseholds(worker), b);
  assert.deepEqual(left.members, b.members.slice(1), 'the members left blank are still missed');
  assert.equal(left.id, b.id, 'the household can be picked for another visit');
});

test('wrong data: a member marked moved out leaves the missed list', async () => {
  assert.ok(picked.length === 3, 'the first test created the tasks');
  const c = picked[2];
  const gone = c.members[c.members.length - 1];
  const building = buildingOf(c);
  const before = await buildingCounts(worker, building);

  await worker.goto(tasksUrl());
  const row = taskRow(worker, c);
  await row.locator('select[name=outcome]').selectOption({ label: '信息有误' });
  const fix = row.locator('fieldset[data-outcome=wrong_data]');
  assert.ok(await fix.isVisible(), 'the correction fields show for 信息有误');
  assert.ok(await row.locator('fieldset[data-outcome=sampled_at_door]').isHidden(), 'the tube fields do not');
  await fix.locator('select[name=member]').selectOption({ label: `${gone.name} #${gone.id}` });
  await fix.locator('select[name=kind]').selectOption({ label: '标记为已搬离' });
  await row.locator('input[name=note]').fill('邻居确认已搬走');
  await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
  assert.equal(new URL(worker.url()).pathname, `/testing/rounds/${round}/tasks`);
  assert.match(await taskRow(worker, c).textContent(), /信息有误\s*邻居确认已搬走/);
  assert.equal(await taskRow(worker, c).locator('[data-testid=outcome-form]').count(), 0, 'task C is done');
  const left = missedOf(await missedHouseholds(worker), c);
  assert.deepEqual(left.members, c.members.slice(0, -1), 'only the moved-out member left the list');

  // A moved-out resident is no longer expected in the round.
  const after = await buildingCounts(worker, building);
  assert.equal(after.expected, before.expected - 1);
  assert.equal(after.missing, before.missing - 1);
  assert.equal(after.sampled, before.sampled);
  assert.equal(named(after.people, gone.name), named(before.people, gone.name) - 1, `${gone.name} is off the list`);
  await worker.close();
});
