import { startServer, launchBrowser, login } from './support.mjs';
const server = await startServer(); const browser = await launchBrowser();
for (const role of ['commander', 'lab_tech', 'sampler', 'community_worker', 'checkpoint_guard', 'building_leader']) {
  const page = await browser.newPage();
  await login(page, server.url, role);
  await page.goto(server.url + '/lang/en');
  const links = await page.$$eval('header a', (as) => as.map((a) => a.getAttribute('href')).filter((h) => h && h.startsWith('/') && !h.startsWith('/lang') && !h.startsWith('/logout')));
  for (const l of [...new Set(links)]) {
    await page.goto(server.url + l);
    const title = await page.title();
    if (/[{}<>;]|px|color|font|\p{Script=Han}/u.test(title)) console.log('TITLE', role, l, JSON.stringify(title));
  }
  const r = await page.goto(server.url + '/no-such-page');
  console.log('404', role, r.status(), JSON.stringify((await page.textContent('main')).replace(/\s+/g, ' ').slice(0, 200)), JSON.stringify(await page.title()));
  await page.close();
}
await browser.close(); await server.stop();
