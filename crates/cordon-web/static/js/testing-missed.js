(() => {
  const box = document.getElementById('missed');
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  async function poll() {
    try {
      const r = await fetch(box.dataset.src); if (!r.ok) return;
      const j = await r.json();
      for (const k of ['expected','sampled','missing','percent']) { const e = box.querySelector('[data-k=' + k + ']'); if (e) e.textContent = j.node[k] + (k === 'percent' ? '%' : ''); }
      const rows = j.households.map((h) => '<tr data-testid="missed-household"><td class="room">' + esc(h.room) + ' <small>' + esc(h.unit.slice(18)) + '</small></td><td>' +
        h.members.map((m) => '<div class="member" data-testid="missed-person">' + esc(m.name) + ' ' + (m.phone ? '<a class="tel" href="tel:' + esc(m.phone) + '">' + esc(m.phone) + '</a>' : '') + (m.bedridden ? ' <span class="tag">' + esc(box.dataset.bed) + '</span>' : '') + '</div>').join('') + '</td></tr>');
      document.getElementById('missed-body').innerHTML = rows.length ? rows.join('') : '<tr><td colspan="2">' + esc(box.dataset.none) + '</td></tr>';
    } catch (e) {}
  }
  setInterval(poll, 2000);
})();
