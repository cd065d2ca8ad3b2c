(function () {
  // The figures come with the page, in data attributes (the CSP runs no inline script).
  var data = document.getElementById('kpi-data');
  var stages = JSON.parse(data.dataset.stages);
  var capacity = JSON.parse(data.dataset.capacity);
  var L = JSON.parse(data.dataset.labels);
  var times = echarts.init(document.getElementById('chart-times'));
  times.setOption({
    grid: {left: 150, right: 30, top: 10, bottom: 30},
    xAxis: {type: 'value', name: L.median + ' (h)'},
    yAxis: {type: 'category', inverse: true, data: stages.map(function (s) { return s.label; })},
    tooltip: {trigger: 'axis'},
    series: [{type: 'bar', data: stages.map(function (s) { return s.hours; }), itemStyle: {color: '#3b6fb6'}, label: {show: true, position: 'right', formatter: function (p) { return stages[p.dataIndex].text; }}}]
  });
  var cap = echarts.init(document.getElementById('chart-capacity'));
  cap.setOption({
    grid: {left: 50, right: 20, top: 40, bottom: 30},
    legend: {data: [L.beds, L.needed]},
    tooltip: {trigger: 'axis'},
    xAxis: {type: 'category', data: capacity.map(function (d) { return d.date.slice(5); })},
    yAxis: {type: 'value'},
    series: [
      {name: L.beds, type: 'line', step: 'middle', data: capacity.map(function (d) { return d.beds; }), itemStyle: {color: '#1e7b34'}},
      {name: L.needed, type: 'bar', data: capacity.map(function (d) { return d.occupied; }), itemStyle: {color: '#a15c00'}}
    ]
  });
  window.addEventListener('resize', function () { times.resize(); cap.resize(); });
})();
