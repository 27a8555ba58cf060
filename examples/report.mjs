// `pnpm demo --report`'s page: one section per incident, with the scenario's metric over time for
// the naive and the guarded run as an inline SVG line chart. No scripts, no network.

function esc(s) {
  return String(s).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );
}

/** Naive and guarded runs over time: one line each, seconds since the run started on x. */
function chart(metric, naive, guarded) {
  const W = 600;
  const H = 240;
  const left = 52;
  const top = 40;
  const plotW = W - left - 30;
  const plotH = H - top - 44;
  const all = [...naive, ...guarded];
  const nice = (v) => {
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 4, 5, 10].map((m) => m * p).find((n) => n >= v);
  };
  const maxT = nice(Math.max(0.1, ...all.map(([t]) => t)));
  const maxY = nice(Math.max(4, ...all.map(([, y]) => y)));
  const x = (t) => (left + (plotW * t) / maxT).toFixed(1);
  const y = (v) => (top + plotH - (plotH * v) / maxY).toFixed(1);
  const line = (series, color) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${series.map(([t, v]) => `${x(t)},${y(v)}`).join(' ')}"/>`;
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = Number((maxY * f).toFixed(2));
      const t = Number((maxT * f).toFixed(3));
      return (
        `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
        `<text x="${left - 6}" y="${Number(y(v)) + 4}" text-anchor="end">${v}</text>` +
        `<text x="${x(t)}" y="${top + plotH + 16}" text-anchor="middle">${t}</text>`
      );
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(metric.label)} over time, naive and guarded" font-family="sans-serif" font-size="12">
<text x="4" y="16" font-weight="bold" font-size="13">${esc(metric.label)}${metric.unit ? ` (${esc(metric.unit)})` : ''} over time, ${metric.better} is better</text>
${ticks}
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>
<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>
<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle">seconds since the run started</text>
${line(naive, '#c0392b')}
${line(guarded, '#27ae60')}
<rect x="${left + plotW - 130}" y="${H - 17}" width="14" height="4" fill="#c0392b"/><text x="${left + plotW - 110}" y="${H - 12}">naive</text>
<rect x="${left + plotW - 60}" y="${H - 17}" width="14" height="4" fill="#27ae60"/><text x="${left + plotW - 40}" y="${H - 12}">guarded</text>
</svg>`;
}

/** The self-contained HTML page for `rows` ({ scenario, r, seconds } per incident). */
export function html(rows) {
  const sections = rows
    .map(({ scenario, r, seconds }) => {
      const m = scenario.metric;
      return `<section><h2>${esc(scenario.title)}</h2>
${chart(m, r.naive.series, r.guarded.series)}
<p>${esc(m.label)}: naive ${m.of(r.naive)}${esc(m.unit)}, guarded ${m.of(r.guarded)}${esc(m.unit)}.</p>
<p><b>Naive:</b> ${esc(r.naive.summary)}</p>
<p><b>Guarded:</b> ${esc(r.guarded.summary)} ${r.guarded.survived ? '(survived)' : '<b>(did not survive)</b>'}</p>
<p><b>Made the difference:</b> <code>${esc(scenario.primitive)}</code> &middot; ${seconds.toFixed(1)} s</p></section>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>halfopen incident lab</title>
<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;padding:0 1em}section{border-top:1px solid #ccc;padding:.5em 0}code{font-size:.9em}</style></head>
<body><h1>halfopen incident lab</h1><p>${esc(new Date().toISOString())}, Node ${esc(process.version)}. Each incident from INCIDENTS.md reproduced on loopback, naive and guarded.</p>
${sections}</body></html>
`;
}
