(() => {
  const box = document.getElementById('alerts');
  let last = Number(box.dataset.last);
  async function poll() {
    try {
      const r = await fetch('/api/v1/alerts?after=' + last); if (!r.ok) return;
      const j = await r.json();
      for (const a of j.alerts.slice().reverse()) {
        last = Math.max(last, a.id);
        const d = document.createElement('div'); d.className = 'toast err'; d.setAttribute('data-testid', 'live-alert');
        d.textContent = '⚠ ' + a.tube + ' · ' + a.members; document.getElementById('new-alerts').prepend(d);
      }
    } catch (e) {}
  }
  setInterval(poll, 3000);
})();
