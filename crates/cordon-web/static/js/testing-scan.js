(() => {
  const el = document.getElementById('scanner');
  const round = el.dataset.round, pool = Number(el.dataset.pool), re = new RegExp(el.dataset.pattern);
  const input = document.getElementById('scan-input'), fb = document.getElementById('feedback');
  const tubeEl = document.getElementById('tube'), countEl = document.getElementById('count');
  const visitor = document.getElementById('visitor');
  let tube = null, count = 0, capacity = pool, last = null, pendingVisitor = null;
  const qkey = 'cordon-scan-queue-' + round;
  const rid = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  function show(text, cls) { fb.textContent = text; fb.className = 'feedback ' + (cls || ''); }
  function render() { tubeEl.textContent = tube || '—'; countEl.textContent = count + '/' + capacity; }
  async function send(items) {
    const body = JSON.stringify({ batch_id: rid(), items });
    try {
      const r = await fetch('/api/v1/rounds/' + round + '/scans', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': el.dataset.csrf }, body });
      if (!r.ok) { const e = await r.json().catch(() => ({})); show(e.message || ('HTTP ' + r.status), 'err'); return null; }
      return await r.json();
    } catch (e) {
      const q = JSON.parse(localStorage.getItem(qkey) || '[]'); q.push(body); localStorage.setItem(qkey, JSON.stringify(q));
      show(el.dataset.queued, 'warn'); return null;
    }
  }
  async function flush() {
    const q = JSON.parse(localStorage.getItem(qkey) || '[]');
    while (q.length) {
      try {
        const r = await fetch('/api/v1/rounds/' + round + '/scans', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': el.dataset.csrf }, body: q[0] });
        if (!r.ok && r.status >= 500) break;
      } catch (e) { break; }
      q.shift(); localStorage.setItem(qkey, JSON.stringify(q));
    }
  }
  setInterval(flush, 5000);
  function apply(o) {
    if (o.count !== undefined && o.tube) { count = o.count; capacity = o.capacity || capacity; }
    if (o.code === 'ok' || o.code === 'replayed') {
      if (o.resident_id) last = o.resident_id;
      const who = (o.resample ? el.dataset.resample + ' · ' : '') + (o.masked_name ? o.masked_name + '  ' : '');
      if (o.sealed) { show('✓ ' + who + count + '/' + capacity + ' — ' + el.dataset.sealedNew, 'ok'); tube = null; last = null; }
      else show('✓ ' + who + count + '/' + capacity, 'ok');
    } else {
      show('✗ ' + (o.message || o.code), o.code === 'not_resident' ? 'warn' : 'err');
      if (o.code === 'tube_not_open' || o.code === 'tube_other_round') { tube = null; }
    }
    render();
  }
  async function scan(text) {
    text = text.trim(); if (!text) return;
    visitor.hidden = true;
    if (re.test(text)) {
      const cap = document.getElementById('door').checked ? 1 : pool;
      const res = await send([{ client_id: rid(), kind: 'open', tube: text.toUpperCase(), capacity: cap }]);
      if (!res) return;
      const o = res.outcomes[0];
      if (o.code === 'ok') { tube = text.toUpperCase(); count = o.count; capacity = o.capacity; last = null; show(el.dataset.opened + ' ' + tube + '  ' + count + '/' + capacity, 'ok'); render(); }
      else apply(o);
      return;
    }
    if (!tube) { show(el.dataset.noTube, 'err'); return; }
    const res = await send([{ client_id: rid(), kind: 'sample', tube, person: text }]);
    if (!res) return;
    const o = res.outcomes[0];
    if (o.code === 'not_resident') { pendingVisitor = text; visitor.hidden = false; }
    apply(o);
  }
  input.addEventListener('keydown', async (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const v = input.value; input.value = '';
    await scan(v);
    input.focus();
  });
  document.getElementById('seal').addEventListener('click', async () => {
    if (!tube) { show(el.dataset.noTube, 'err'); return; }
    const res = await send([{ client_id: rid(), kind: 'seal', tube }]);
    if (res) { const o = res.outcomes[0]; if (o.code === 'ok' || o.code === 'replayed') { show('✓ ' + tube + ' ' + count + '/' + capacity + ' — ' + el.dataset.sealedNew, 'ok'); tube = null; render(); } else apply(o); }
    input.focus();
  });
  document.getElementById('undo').addEventListener('click', async () => {
    if (!tube || !last) { input.focus(); return; }
    const res = await send([{ client_id: rid(), kind: 'undo', tube, resident_id: last }]);
    if (res) { const o = res.outcomes[0]; if (o.code === 'ok') { count = o.count; last = null; show('↶ ' + count + '/' + capacity, 'warn'); render(); } else apply(o); }
    input.focus();
  });
  document.getElementById('visitor-btn').addEventListener('click', async () => {
    if (!tube || !pendingVisitor) return;
    const phone = document.getElementById('visitor-phone').value;
    const res = await send([{ client_id: rid(), kind: 'sample', tube, person: pendingVisitor, visitor: true, phone }]);
    if (res) { visitor.hidden = true; pendingVisitor = null; apply(res.outcomes[0]); }
    input.focus();
  });
  render();
  flush();
})();
