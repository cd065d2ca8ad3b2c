// The print button of the code cards page.
document.querySelectorAll('[data-print]').forEach((b) => b.addEventListener('click', () => window.print()));
