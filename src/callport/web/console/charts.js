// SVG charts: bars over labels, lines over labels, and the per-turn latency waterfall.
import { s } from './dom.js';
export const COLORS = ['#5b8cff', '#2fbf71', '#f5a524', '#c77dff', '#e5484d', '#4cc9f0'];

export function bars(points, { title, unit = '', height = 160 } = {}) {
  const w = Math.max(420, points.length * 28), pad = 28, max = Math.max(0, ...points.map(p => p.value || 0)) || 1;
  const bw = (w - pad) / Math.max(points.length, 1);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${height + 30}`, role: 'img', 'aria-label': title });
  svg.append(s('title', {}, title));
  points.forEach((p, i) => {
    const v = p.value || 0, bh = (v / max) * height;
    const r = s('rect', { class: 'bar', x: pad + i * bw + 2, y: height - bh, width: Math.max(bw - 4, 2), height: bh, fill: p.color || COLORS[0] });
    r.append(s('title', {}, `${p.label}: ${v}${unit}`));
    svg.append(r);
    if (points.length <= 14 || i % Math.ceil(points.length / 14) === 0) svg.append(s('text', { x: pad + i * bw + bw / 2, y: height + 14, 'text-anchor': 'middle' }, p.short || p.label));
  });
  svg.append(s('text', { x: 2, y: 12 }, `${Math.round(max * 1000) / 1000}${unit}`), s('text', { x: 2, y: height }, `0`));
  return svg;
}

export function lines(labels, series, { title, unit = '', height = 160 } = {}) {
  const w = Math.max(420, labels.length * 40), pad = 36;
  const all = series.flatMap(x => x.values.filter(v => v != null));
  const max = Math.max(0, ...all) || 1;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${w} ${height + 30}`, role: 'img', 'aria-label': title });
  svg.append(s('title', {}, title));
  const x = i => pad + (labels.length > 1 ? (i * (w - pad - 40)) / (labels.length - 1) : (w - pad) / 2);
  series.forEach((ser, k) => {
    const pts = ser.values.map((v, i) => (v == null ? null : [x(i), height - (v / max) * height]));
    const d = pts.filter(Boolean).map((p, i) => `${i ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ');
    if (d) svg.append(s('path', { d, fill: 'none', stroke: COLORS[k % COLORS.length], 'stroke-width': 2 }));
    pts.forEach((p, i) => { if (p) { const c = s('circle', { cx: p[0], cy: p[1], r: 4, fill: COLORS[k % COLORS.length] }); c.append(s('title', {}, `${ser.name} ${labels[i]}: ${ser.values[i]}${unit}`)); svg.append(c); } });
  });
  labels.forEach((l, i) => svg.append(s('text', { x: x(i), y: height + 14, 'text-anchor': 'middle' }, l)));
  svg.append(s('text', { x: 2, y: 10 }, `${Math.round(max * 100) / 100}${unit}`));
  return svg;
}

const STAGES = [['endpoint', 'End of speech detected'], ['stt', 'Speech to text'], ['agent', 'Agent'], ['tts_first_clause', 'Text to speech (first clause)']];
export function waterfall(turns) {
  const rowH = 26, pad = 150, w = 720;
  const totals = turns.map(t => {
    const m = t.timing_ms || {};
    const sum = STAGES.reduce((a, [k]) => a + (m[k] || 0), 0);
    return Math.max(sum, m.end_of_speech_to_first_audio || 0);
  });
  const max = Math.max(1, ...totals), scale = (w - pad - 60) / max;
  const svg = s('svg', { class: 'chart waterfall', viewBox: `0 0 ${w} ${turns.length * rowH + 30}`, role: 'img', 'aria-label': 'Per-turn latency waterfall' });
  svg.append(s('title', {}, 'Per-turn latency: endpoint, STT, agent, TTS, first audio'));
  turns.forEach((t, i) => {
    const m = t.timing_ms || {}, y = i * rowH + 4;
    svg.append(s('text', { x: 0, y: y + 14 }, `Turn ${t.index}: ${(t.transcript || t.digits || '').slice(0, 18)}`));
    let x = pad;
    STAGES.forEach(([k, name], c) => {
      const v = m[k] || 0, bw = v * scale;
      const r = s('rect', { x, y, width: Math.max(bw, 0.5), height: rowH - 8, fill: COLORS[c], 'data-stage': k });
      r.append(s('title', {}, `${name}: ${Math.round(v)} ms${k === 'stt' && t.timing_ms.stt_started_early ? ' (started at the first pause, overlapping the endpoint)' : ''}`));
      svg.append(r); x += bw;
    });
    const fa = m.end_of_speech_to_first_audio;
    if (fa != null) {
      const fx = pad + fa * scale;
      svg.append(s('line', { x1: fx, x2: fx, y1: y - 2, y2: y + rowH - 6, stroke: '#fff', 'stroke-width': 2, 'data-stage': 'first_audio' }, s('title', {}, `First audio: ${Math.round(fa)} ms`)));
      svg.append(s('text', { x: fx + 4, y: y + 14 }, `${Math.round(fa)} ms`));
    }
  });
  return svg;
}
export const STAGE_NAMES = STAGES;
