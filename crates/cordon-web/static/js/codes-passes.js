(() => {
  // Holder picker: matches of the typed ID number or name, from the resident search.
  const q = document.querySelector('[data-testid=holder-q]');
  const id = document.querySelector('[data-testid=holder-id]');
  const box = document.querySelector('[data-testid=holder-matches]');
  const mask = (n) => n.slice(0, 6) + '********' + n.slice(-4);
  let timer;
  q.addEventListener('input', () => {
    id.value = ''; clearTimeout(timer);
    timer = setTimeout(async () => {
      box.textContent = '';
      const v = q.value.trim(); if (!v) return;
      // By POST: an ID number never goes into a URL.
      const r = await fetch('/api/v1/residents/search', { method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': q.dataset.csrf }, body: JSON.stringify({ q: v }) });
      if (!r.ok) { box.textContent = box.dataset.hint; return; }
      const people = (await r.json()).filter((p) => p.status === 'active').slice(0, 10);
      if (!people.length) { box.textContent = box.dataset.none; return; }
      for (const p of people) {
        const b = document.createElement('button'); b.type = 'button'; b.className = 'chip'; b.setAttribute('data-testid', 'holder-match');
        b.textContent = p.name + ' · ' + mask(p.id_number) + ' · ' + (p.address || p.room);
        b.addEventListener('click', () => { id.value = p.id; q.value = p.name; box.textContent = box.dataset.chosen + ' ' + b.textContent; });
        box.append(b);
      }
    }, 250);
  });
})();
