(async () => {
  const el = document.getElementById('chain-graph');
  const r = await fetch('/api/v1/chains?' + el.dataset.query);
  if (!r.ok) return;
  const data = await r.json();
  const gens = [...new Set(data.nodes.map(n => n.generation))].sort((a, b) => a - b);
  const categories = gens.map(g => ({ name: el.dataset.generation + ' ' + g }));
  const nodes = data.nodes.map(n => ({
    id: n.id, name: n.label + (n.case_id ? ' #' + n.case_id : ''), category: gens.indexOf(n.generation),
    symbolSize: n.case_id ? 16 : 7, symbol: n.case_id ? 'circle' : 'triangle',
    value: (n.class || '') + ' ' + n.at,
  }));
  document.getElementById('chain-count').textContent = el.dataset.nodes + ': ' + nodes.length + ' · ' + data.server_ms + ' ms';
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  chart.setOption({
    tooltip: {}, legend: [{ data: categories.map(c => c.name) }],
    series: [{ type: 'graph', layout: 'force', roam: true, draggable: false, categories,
      data: nodes, links: data.edges, force: { repulsion: 40, edgeLength: 20, gravity: 0.1 },
      edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 4, large: true, progressive: 2000,
      label: { show: nodes.length < 200, position: 'right', fontSize: 10 }, lineStyle: { opacity: 0.6 } }],
  });
  chart.on('click', p => { if (p.data && p.data.id && p.data.id[0] === 'c') location.href = '/tracing/cases/' + p.data.id.slice(1); });
  window.addEventListener('resize', () => chart.resize());
  el.dataset.rendered = String(nodes.length);
})();
