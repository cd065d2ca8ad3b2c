(() => {
  const form = document.getElementById('import-form');
  const PAGE = 20;
  // The error table, a page at a time.
  function pager() {
    const rows = [...document.querySelectorAll('[data-testid=row-error]')];
    const nav = document.querySelector('[data-testid=error-pager]');
    if (!nav || rows.length <= PAGE) return;
    const pages = Math.ceil(rows.length / PAGE);
    let at = 0;
    const show = () => {
      rows.forEach((r, i) => { r.hidden = Math.floor(i / PAGE) !== at; });
      nav.querySelector('[data-testid=error-page]').textContent = (at + 1) + ' / ' + pages;
      nav.querySelector('[data-page=prev]').disabled = at === 0;
      nav.querySelector('[data-page=next]').disabled = at === pages - 1;
    };
    nav.addEventListener('click', (e) => {
      const b = e.target.closest('button'); if (!b) return;
      at = Math.max(0, Math.min(pages - 1, at + (b.dataset.page === 'next' ? 1 : -1))); show();
    });
    nav.hidden = false; show();
  }
  pager();
  // The preview is fetched in place so that the chosen file stays chosen for the apply.
  form.addEventListener('submit', async (e) => {
    if (!e.submitter || e.submitter.value !== 'preview') return;
    e.preventDefault();
    const data = new FormData(form);
    data.set('step', 'preview');
    data.delete('expect');
    e.submitter.disabled = true;
    try {
      const r = await fetch('/import', { method: 'POST', body: data, credentials: 'same-origin' });
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const fresh = doc.getElementById('import-report');
      const slot = document.getElementById('import-report');
      if (fresh) { slot.replaceWith(fresh); } else {
        const err = doc.querySelector('[data-testid=error]');
        slot.innerHTML = ''; if (err) { const s = document.createElement('section'); s.className = 'card'; s.append(err); slot.append(s); }
      }
      pager();
    } finally { e.submitter.disabled = false; }
  });
  form.querySelector('[data-testid=import-file]').addEventListener('change', () => {
    document.getElementById('import-report').innerHTML = '';
  });
})();
