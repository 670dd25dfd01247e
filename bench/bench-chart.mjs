// Draws bench/chart.svg from the benchmark rows: one panel per section,
// each with its own linear scale; a bar per row for the median, a line with
// end ticks for min..max, dashed lines for absolute targets. Plain SVG text,
// no dependencies.

const W = 1000
const LABEL_W = 420
const PLOT_W = 460
const ROW_H = 22
const PANEL_GAP = 34
const COLORS = { project: '#2b6cb0', other: '#a0aec0' }

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function fmt(v, unit) {
  if (!Number.isFinite(v)) return 'n/a'
  if (unit === 'ms') return v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`
  if (unit === 'MB') return `${v.toFixed(1)} MB`
  return `${v.toFixed(0)} ${unit}`
}

/** A round number >= v for the axis end. */
function niceMax(v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/**
 * panels: [{ title, unit, rows: [{ label, median, min, max, project }], targets: [{ value, label }] }]
 */
export function chartSvg(panels, { title, subtitle }) {
  const parts = []
  let y = 72
  for (const panel of panels) {
    const rows = panel.rows.filter((r) => Number.isFinite(r.median))
    if (rows.length === 0) continue
    // Scale to the medians (and targets) so that one wild max does not
    // flatten the bars; whiskers beyond the axis end in an arrow.
    const top = niceMax(Math.max(...rows.map((r) => r.median), ...(panel.targets ?? []).map((t) => t.value)) * 1.35)
    const x = (v) => LABEL_W + (Math.min(v, top) / top) * PLOT_W
    parts.push(`<text x="10" y="${y}" class="panel">${esc(panel.title)}</text>`)
    y += (panel.targets ?? []).length ? 24 : 10
    const y0 = y
    rows.forEach((r, i) => {
      const cy = y + i * ROW_H + ROW_H / 2
      const color = r.project ? COLORS.project : COLORS.other
      parts.push(`<text x="${LABEL_W - 8}" y="${cy + 4}" class="label" text-anchor="end">${esc(r.label)}</text>`)
      parts.push(`<rect x="${LABEL_W}" y="${cy - 7}" width="${Math.max(1, x(r.median) - LABEL_W).toFixed(1)}" height="14" fill="${color}"/>`)
      if (Number.isFinite(r.min) && Number.isFinite(r.max) && r.max > r.min) {
        const x1 = x(r.min)
        const x2 = x(r.max)
        parts.push(`<line x1="${x1.toFixed(1)}" y1="${cy}" x2="${x2.toFixed(1)}" y2="${cy}" class="whisker"/>`)
        parts.push(`<line x1="${x1.toFixed(1)}" y1="${cy - 4}" x2="${x1.toFixed(1)}" y2="${cy + 4}" class="whisker"/>`)
        if (r.max > top) {
          parts.push(`<path d="M${x2.toFixed(1)},${cy - 4} l6,4 l-6,4 z" class="arrow"/>`)
        } else {
          parts.push(`<line x1="${x2.toFixed(1)}" y1="${cy - 4}" x2="${x2.toFixed(1)}" y2="${cy + 4}" class="whisker"/>`)
        }
      }
      const range = Number.isFinite(r.min) ? ` (${fmt(r.min, panel.unit).split(' ')[0]}–${fmt(r.max, panel.unit)})` : ''
      parts.push(`<text x="${LABEL_W + PLOT_W + 14}" y="${cy + 4}" class="value">${esc(fmt(r.median, panel.unit) + range)}</text>`)
    })
    y += rows.length * ROW_H
    // Axis with 0, half and the end.
    parts.push(`<line x1="${LABEL_W}" y1="${y0}" x2="${LABEL_W}" y2="${y}" class="axis"/>`)
    parts.push(`<line x1="${LABEL_W}" y1="${y}" x2="${LABEL_W + PLOT_W}" y2="${y}" class="axis"/>`)
    for (const v of [0, top / 2, top]) {
      parts.push(`<text x="${x(v).toFixed(1)}" y="${y + 13}" class="tick" text-anchor="middle">${esc(fmt(v, panel.unit))}</text>`)
    }
    for (const t of panel.targets ?? []) {
      const tx = x(t.value).toFixed(1)
      parts.push(`<line x1="${tx}" y1="${y0 - 4}" x2="${tx}" y2="${y}" class="target"/>`)
      parts.push(`<text x="${tx}" y="${y0 - 6}" class="tick" text-anchor="middle">${esc(t.label)}</text>`)
    }
    y += 16 + PANEL_GAP
  }
  const h = y
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W + 220}" height="${h}" viewBox="0 0 ${W + 220} ${h}" font-family="sans-serif">
<style>
.title{font-size:18px;font-weight:bold}.sub{font-size:12px;fill:#4a5568}.panel{font-size:14px;font-weight:bold}
.label{font-size:12px}.value{font-size:12px;fill:#2d3748}.tick{font-size:10px;fill:#4a5568}
.axis{stroke:#4a5568;stroke-width:1}.whisker{stroke:#1a202c;stroke-width:1.2}.arrow{fill:#1a202c}
.target{stroke:#c53030;stroke-width:1.2;stroke-dasharray:4 3}
</style>
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" class="title">${esc(title)}</text>
<text x="10" y="42" class="sub">${esc(subtitle)}</text>
${parts.join('\n')}
</svg>
`
}
