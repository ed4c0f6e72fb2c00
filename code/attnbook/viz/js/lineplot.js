// lineplot: the optional chart under the heatmap (contract.json's `plot`): series that follow
// the sliders, fixed points, the outlined row's weights as stems at the keys' x, and a dashed
// line at the outlined query's x.
import { legendSlots, niceTicks, plotLayout, scale } from "./layout.js";
import { FONT, SMALL_FONT } from "./theme.js";
import { sizeCanvas, textWidth } from "./heatmap.js";

// Start of each series in the flat `plot_values` and the offset of the curve shown now.
export function seriesOffsets(shapes, frame) {
  const out = [];
  let start = 0;
  for (const shape of shapes) {
    const n = shape[shape.length - 1];
    out.push({ start: start + (shape.length > 1 ? frame * n : 0), length: n });
    start += shape.reduce((a, b) => a * b, 1);
  }
  return out;
}

// `s`: spec (the plot dict), series (Float32Array of plot_values), frame (index of the slider
// position), width, theme, and for a row slider: rowName, row, rowLabel, weights (that row's values).
export function drawPlot(canvas, s) {
  const { spec, theme } = s;
  const stems = Boolean(s.rowName && spec.col_x && s.weights);
  const legend = [];
  if (stems) legend.push([`α of ${s.rowName} ${s.rowLabel}`, theme.stem, "stem"]);
  if (spec.points) legend.push(["data", theme.points, "dot"]);
  spec.names.forEach((name, k) => legend.push([name, theme.series[k % theme.series.length], "line"]));
  if (s.rowName && spec.row_x) legend.push([`${s.rowName} position`, theme.outline, "dash"]);

  const { slots, rows } = legendSlots(legend.map(([label]) => textWidth(label, SMALL_FONT)), s.width);
  const m = plotLayout(s.width, rows);
  const ctx = sizeCanvas(canvas, m.width, m.height);

  const xs = spec.x;
  const allX = xs.concat(spec.points ? spec.points[0] : [], spec.col_x || []);
  const [y0, y1] = spec.ylim;
  const px = scale(Math.min(...allX), Math.max(...allX), m.left, m.left + m.W);
  const py = scale(y0, y1, m.top + m.H, m.top);

  // axes, ticks, titles
  ctx.strokeStyle = theme.rule;
  ctx.lineWidth = 1;
  ctx.strokeRect(m.left + 0.5, m.top + 0.5, m.W, m.H);
  ctx.fillStyle = theme.text;
  ctx.font = SMALL_FONT;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  niceTicks(Math.min(...allX), Math.max(...allX)).forEach((t) => ctx.fillText(String(t), px(t), m.top + m.H + 4));
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  niceTicks(y0, y1).forEach((t) => ctx.fillText(String(t), m.left - 5, py(t)));
  ctx.font = FONT;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  if (spec.xlabel) ctx.fillText(spec.xlabel, m.left + m.W / 2, m.height - 2);
  if (spec.ylabel) {
    ctx.save();
    ctx.translate(12, m.top + m.H / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(spec.ylabel, 0, 0);
    ctx.restore();
  }

  // the outlined row's weights as stems, on their own scale (right axis)
  if (stems) {
    let wmax = 0;
    for (const w of s.weights) if (w > wmax) wmax = w;
    const h = wmax > 0 ? (0.9 * m.H) / wmax : 0;
    ctx.fillStyle = theme.text;
    ctx.font = SMALL_FONT;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText("α", m.left + m.W + 6, m.top + m.H / 2);
    ctx.fillText(wmax.toFixed(2), m.left + m.W + 6, m.top + 0.1 * m.H);
    ctx.fillText("0", m.left + m.W + 6, m.top + m.H);
    ctx.save();
    clip(ctx, m);
    ctx.strokeStyle = theme.stem;
    ctx.lineWidth = 3;
    s.weights.forEach((w, c) => {
      if (!(w > 0) || c >= spec.col_x.length) return; // NaN (masked) or zero: no stem
      const x = px(spec.col_x[c]);
      ctx.beginPath();
      ctx.moveTo(x, m.top + m.H);
      ctx.lineTo(x, m.top + m.H - w * h);
      ctx.stroke();
    });
    ctx.restore();
  }

  ctx.save();
  clip(ctx, m);
  if (spec.points) {
    ctx.fillStyle = theme.points;
    spec.points[0].forEach((x, i) => {
      ctx.beginPath();
      ctx.arc(px(x), py(spec.points[1][i]), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  seriesOffsets(spec.shapes, s.frame).forEach(({ start, length }, k) => {
    ctx.strokeStyle = theme.series[k % theme.series.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i < length; i++) {
      if (i === 0) ctx.moveTo(px(xs[i]), py(s.series[start + i]));
      else ctx.lineTo(px(xs[i]), py(s.series[start + i]));
    }
    ctx.stroke();
  });
  if (s.rowName && spec.row_x && s.row < spec.row_x.length) {
    const x = px(spec.row_x[s.row]);
    ctx.strokeStyle = theme.outline;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, m.top);
    ctx.lineTo(x, m.top + m.H);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.restore();

  ctx.font = SMALL_FONT;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  legend.forEach(([label, colour, kind], i) => {
    const [x, y] = slots[i];
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    if (kind === "dot") {
      ctx.beginPath();
      ctx.arc(x + 6, y, 2.5, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.lineWidth = kind === "stem" ? 3 : 2;
      ctx.setLineDash(kind === "dash" ? [4, 3] : []);
      ctx.beginPath();
      ctx.moveTo(kind === "stem" ? x + 6 : x, kind === "stem" ? y + 5 : y);
      ctx.lineTo(kind === "stem" ? x + 6 : x + 12, kind === "stem" ? y - 5 : y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.fillStyle = theme.text;
    ctx.fillText(label, x + 18, y);
  });
  canvas.setAttribute("aria-label", `Line chart of ${spec.names.join(", ") || "data"} against ${spec.xlabel || "x"}`);
}

function clip(ctx, m) {
  ctx.beginPath();
  ctx.rect(m.left, m.top, m.W, m.H);
  ctx.clip();
}
