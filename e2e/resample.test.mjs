// Browser test of the positive-pool chase closed (issue 9 §1): a pool of ten turns
// positive; the sampler opens the re-sampling task list on a phone, re-samples two members
// into single tubes from it (the scan page says "re-sample"); the lab enters one negative
// and one positive; the pool's timeline on the alerts page and both health codes follow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startServer, launchBrowser, login } from './support.mjs';

let server, browser;
const POOL = 'RS0000000001';
const SINGLE = ['RS0000000011', 'RS0000000012'];
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

async function scan(page, text) {
  await page.focus('[data-testid=scan-input]');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function result(lab, tube, value) {
  await lab.goto(`${server.url}/testing/lab`);
  await lab.fill('[data-testid=receive-input]', tube);
  await Promise.all([lab.waitForNavigation(), lab.click('[data-testid=receive-submit]')]);
  await lab.fill('form[action="/testing/lab/result"] input[name=tube]', tube);
  await lab.selectOption('form[action="/testing/lab/result"] select[name=result]', value);
  await Promise.all([lab.waitForNavigation(), lab.click('form[action="/testing/lab/result"] button')]);
}

test('a positive pool is re-sampled from the task list; the results clear one and confirm the other', async () => {
  const cmd = await browser.newPage();
  await login(cmd, server.url, 'commander');
  await cmd.goto(`${server.url}/testing`);
  await Promise.all([cmd.waitForNavigation(), cmd.click('form[action="/testing/rounds"] button')]);
  const round = Number((await cmd.locator('[data-testid=round] td').first().textContent()).replace('#', ''));

  // Ten residents of the demo building into one pool.
  const leader = await browser.newPage();
  await login(leader, server.url, 'building_leader');
  const building = leader.url().split('/').pop();
  const roster = await (await leader.request.get(`${server.url}/api/v1/buildings/${building}/roster`)).json();
  const people = roster.flatMap((h) => h.members).filter((m) => m.status === 'active').slice(0, 10);
  assert.equal(people.length, 10);
  const sampler = await browser.newPage(PHONE);
  await login(sampler, server.url, 'sampler');
  await sampler.goto(`${server.url}/testing/rounds/${round}/scan`);
  await scan(sampler, POOL);
  await sampler.waitForFunction((t) => document.querySelector('[data-testid=tube]').textContent === t, POOL);
  for (const p of people) {
    await scan(sampler, p.id_number);
    await sampler.waitForFunction(() => /✓/.test(document.querySelector('[data-testid=feedback]').textContent));
  }
  await sampler.waitForFunction(() => document.querySelector('[data-testid=tube]').textContent === '—');

  const lab = await browser.newPage();
  await login(lab, server.url, 'lab_tech');
  await result(lab, POOL, 'positive');
  assert.equal(await lab.locator('[data-testid=awaiting]').count(), 10);

  // The sampler's task list: ten members to re-sample, grouped by building and household,
  // each with the door-to-door flag (their households are under home control now).
  await sampler.goto(`${server.url}/testing`);
  await Promise.all([sampler.waitForNavigation(), sampler.locator('[data-testid=resample-link]').first().click()]);
  assert.match(sampler.url(), new RegExp(`/testing/rounds/${round}/resample`));
  assert.equal(await sampler.locator('[data-testid=resample-task][data-state=waiting]').count(), 10);
  assert.ok((await sampler.locator('[data-testid=resample-building]').count()) >= 1);
  assert.ok((await sampler.locator('[data-testid=door-to-door]').count()) >= 1);
  assert.equal(await sampler.textContent('[data-testid=resample-waiting]'), '10');
  await sampler.screenshot({ path: `${SHOTS}/resample-tasks-phone.png`, fullPage: true });
  const chosen = await sampler.locator('[data-testid=resample-task]').evaluateAll((els) => els.slice(0, 2).map((e) => Number(e.dataset.resident)));
  const [neg, pos] = chosen.map((id) => people.find((p) => p.id === id));
  assert.ok(neg && pos, 'the tasks are of the pooled members');

  // From the list to the scan page in single-tube mode; each re-sample seals its tube.
  await Promise.all([sampler.waitForNavigation(), sampler.click('[data-testid=resample-scan]')]);
  assert.ok(await sampler.locator('[data-testid=single-mode]').isVisible());
  assert.ok(await sampler.isChecked('[data-testid=door-mode]'));
  // Into a pooled tube first (single mode off): told to take a single tube.
  await sampler.uncheck('[data-testid=door-mode]');
  await scan(sampler, 'RS0000000002');
  await sampler.waitForFunction(() => document.querySelector('[data-testid=tube]').textContent === 'RS0000000002');
  await scan(sampler, neg.id_number);
  await sampler.waitForFunction(() => /[✗✓]/.test(document.querySelector('[data-testid=feedback]').textContent), null, { timeout: 5000 })
    .catch(async () => { throw new Error('feedback: ' + await sampler.textContent('[data-testid=feedback]')); });
  assert.match(await sampler.textContent('[data-testid=feedback]'), /单管复采/);
  await sampler.check('[data-testid=door-mode]');
  for (const [i, p] of [neg, pos].entries()) {
    await scan(sampler, SINGLE[i]);
    await sampler.waitForFunction((t) => document.querySelector('[data-testid=tube]').textContent === t, SINGLE[i]);
    await scan(sampler, p.id_number);
    await sampler.waitForFunction(() => /✓/.test(document.querySelector('[data-testid=feedback]').textContent));
    const fb = await sampler.textContent('[data-testid=feedback]');
    assert.match(fb, /复采/, 'the scan page says re-sample');
    assert.match(fb, /封管/, 'the single tube sealed itself');
    assert.ok(!fb.includes(p.id_number));
  }
  await sampler.screenshot({ path: `${SHOTS}/resample-scan-phone.png`, fullPage: true });
  await sampler.goto(`${server.url}/testing/rounds/${round}/resample`);
  assert.equal(await sampler.locator('[data-testid=resample-task][data-state=sampled]').count(), 2);
  assert.equal(await sampler.textContent('[data-testid=resample-waiting]'), '8');

  // The lab: one negative, one positive.
  await result(lab, SINGLE[0], 'negative');
  await result(lab, SINGLE[1], 'positive');

  // The pool's timeline: 2 of 10 re-sampled, one cleared, one confirmed, times shown.
  await cmd.goto(`${server.url}/testing/alerts`);
  const tl = cmd.locator(`[data-testid=timeline][data-tube=${POOL}]`);
  assert.equal(await tl.locator('[data-testid=timeline-resampled]').textContent(), '2/10');
  assert.equal(await tl.locator(`[data-testid=timeline-member][data-resident="${neg.id}"]`).getAttribute('data-status'), 'cleared');
  assert.equal(await tl.locator(`[data-testid=timeline-member][data-resident="${pos.id}"]`).getAttribute('data-status'), 'confirmed');
  assert.match(await tl.locator(`[data-testid=timeline-member][data-resident="${neg.id}"]`).textContent(), /(秒|分钟)/);
  assert.match(await cmd.locator('[data-testid=alert]').first().textContent(), /下一步/);
  await cmd.screenshot({ path: `${SHOTS}/resample-alerts.png`, fullPage: true });

  // Both colours follow: the negative is no longer pool-positive, the positive is a case.
  await cmd.goto(`${server.url}/residents/${pos.id}/code`);
  assert.equal(await cmd.getAttribute('[data-testid=health-code]', 'data-colour'), 'red');
  assert.match(await cmd.textContent('[data-testid=reasons]'), /确诊/);
  await cmd.goto(`${server.url}/residents/${neg.id}/code`);
  assert.doesNotMatch(await cmd.textContent('[data-testid=health-code]'), /混管阳性|混检阳性/);
  const other = people.find((p) => p.id !== neg.id && p.id !== pos.id);
  await cmd.goto(`${server.url}/residents/${other.id}/code`);
  assert.notEqual(await cmd.getAttribute('[data-testid=health-code]', 'data-colour'), 'green', 'still awaiting the re-sample');
  await Promise.all([cmd.close(), leader.close(), sampler.close(), lab.close()]);
});
