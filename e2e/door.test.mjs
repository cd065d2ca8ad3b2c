// Browser tests of door-knocking (SPEC 敲门行动, issue 3 item 6): a grid worker works
// their grid's missed households in a fresh round. Tasks for three households; one is
// sampled at the door with a single tube per member and leaves the missed list; a
// malformed and a reused barcode are refused with a zh error naming the tube field and
// the task stays open; "wrong data: moved out" takes a member off the list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser, worker;
let round;
const picked = []; // the three households given tasks: {id, room, members: [{id, name}]}

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
      tag: r.querySelector('.tag')?.textContent ?? null,
      room: r.querySelector('td.room').textContent.trim().replace(/\s+/g, ' '),
      members: [...r.querySelectorAll('.member')].map((m) => ({
        id: m.querySelector('small').textContent.replace('#', ''),
        name: m.firstChild.textContent.trim(),
      })),
    })),
  );
}

// The task row of a household, found by its room cell as the missed list shows it.
function taskRow(page, h) {
  return page.locator('[data-testid=task]').filter({
    has: page.locator('td.room').filter({ hasText: new RegExp(`^\\s*${h.room.replace(/ /g, '\\s+')}\\s*$`) }),
  });
}

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

const buildingOf = (h) => h.room.split(' ').pop().slice(0, 18);
// How often a name is on a building's missed list (names can repeat in a building).
const named = (people, name) => people.filter((p) => p.startsWith(name + ' ') || p === name).length;

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
    const row = now.find((x) => x.room === h.room);
    assert.equal(row.id, null, `${h.room}: no checkbox once it has a task`);
    assert.match(row.tag, /^#\d+$/);
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
  assert.equal(await taskRow(worker, a).locator('[data-testid=outcome-form]').count(), 0, 'task A is done');
  assert.match(await taskRow(worker, a).textContent(), /已上门采样/);
  assert.equal(await worker.locator('[data-testid=outcome-form]').count(), 2, 'the other two still open');
  now = await missedHouseholds(worker);
  assert.equal(now.length, all.length - 1, 'household A left the missed list');
  assert.ok(!now.some((h) => h.room === a.room));

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

test('a malformed or reused tube barcode is refused by name and the task stays open', async () => {
  assert.ok(picked.length === 3, 'the first test created the tasks');
  const b = picked[1];
  const submitTube = async (value) => {
    await worker.goto(tasksUrl());
    const row = taskRow(worker, b);
    await row.locator('select[name=outcome]').selectOption({ label: '已上门采样' });
    await row.locator('fieldset[data-outcome=sampled_at_door] label', { hasText: `#${b.members[0].id}` }).locator('input').fill(value);
    const [resp] = await Promise.all([worker.waitForNavigation(), row.locator('button').click()]);
    return resp.status();
  };

  // A typo: the message names the field (试管条码), the pattern and the member.
  assert.equal(await submitTube('bad'), 422);
  const err = await worker.textContent('[data-testid=error]');
  assert.match(err, /试管条码：试管条码格式不正确，应为 AA9999999999/);
  assert.match(err, new RegExp(`居民 #${b.members[0].id}`));
  assert.match(err, /barcode_invalid/);
  // Back to the page: the task is still open and the household still missed.
  await Promise.all([worker.waitForNavigation(), worker.click('a[href="javascript:history.back()"]')]);
  await worker.goto(tasksUrl());
  assert.equal(await taskRow(worker, b).locator('[data-testid=outcome-form]').count(), 1, 'task B still open');
  assert.deepEqual((await missedHouseholds(worker)).find((h) => h.room === b.room)?.members, b.members);

  // A tube already used for household A: refused too.
  assert.equal(await submitTube('DD0000000001'), 422);
  assert.match(await worker.textContent('[data-testid=error]'), /试管条码：该试管条码已使用/);
  await worker.goto(tasksUrl());
  assert.equal(await taskRow(worker, b).locator('[data-testid=outcome-form]').count(), 1, 'task B still open');

  // A new tube for the first member only: the others stay missed and can get a new task.
  assert.equal(await submitTube('DD0000000101'), 200);
  assert.match(await taskRow(worker, b).textContent(), /已上门采样/);
  const left = (await missedHouseholds(worker)).find((h) => h.room === b.room);
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
  const left = (await missedHouseholds(worker)).find((h) => h.room === c.room);
  assert.deepEqual(left.members, c.members.slice(0, -1), 'only the moved-out member left the list');

  // A moved-out resident is no longer expected in the round.
  const after = await buildingCounts(worker, building);
  assert.equal(after.expected, before.expected - 1);
  assert.equal(after.missing, before.missing - 1);
  assert.equal(after.sampled, before.sampled);
  assert.equal(named(after.people, gone.name), named(before.people, gone.name) - 1, `${gone.name} is off the list`);
  await worker.close();
});
