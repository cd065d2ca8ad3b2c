(() => {
  const src = document.getElementById('cov').dataset.src;
  const fill = (row, c) => { if (!row) return; for (const k of ['expected','sampled','exempt','missing','percent']) { const e = row.querySelector('[data-k=' + k + ']'); if (e) e.textContent = c[k] + (k === 'percent' ? '%' : ''); } };
  async function poll() {
    try { const r = await fetch(src); if (r.ok) { const j = await r.json(); fill(document.querySelector('.stats[data-code="' + j.node.code + '"]'), j.node); for (const c of j.children) fill(document.querySelector('tr[data-code="' + c.code + '"]'), c); } } catch (e) {}
  }
  setInterval(poll, 3000);
})();
