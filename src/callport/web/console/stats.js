// Queues (live, pushed by the event stream) and quality (charts over days).
import { h, api, secs, card } from './dom.js';
import { bars, lines } from './charts.js';

export async function queuesView(main) {
  const hours = h('select', { id: 'q-hours' }, [[1, 'last hour'], [24, 'last 24 hours'], [168, 'last 7 days']].map(([v, t]) => h('option', { value: v, selected: v === 24 }, t)));
  const wrap = h('div', { id: 'queues' });
  main.replaceChildren(h('div', { class: 'actions' }, h('h1', {}, 'Queues and agents'), h('label', { class: 'cp-field' }, 'Period', hours)), wrap);
  async function load() {
    const d = await api(`/api/console/queues?hours=${hours.value}`);
    if (!d.queues.length) { wrap.replaceChildren(h('p', { class: 'empty' }, 'No queues.')); return; }
    wrap.replaceChildren(h('div', { class: 'cp-grid' }, d.queues.map(q => {
      const st = d.stats[q.name] || {};
      return card(`Queue ${q.name}`,
        h('p', { 'data-queue': q.name, class: 'waiting-count' }, `${q.waiting.length} waiting · ${q.agents.filter(a => a.online).length} agents online`),
        h('table', { class: 'cp-table' }, h('thead', {}, h('tr', {}, ['#', 'Caller', 'Waited', 'State'].map(t => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, q.waiting.map(w => h('tr', { class: 'waiter' }, h('td', {}, w.position), h('td', {}, w.caller), h('td', {}, secs(w.waited_s)), h('td', {}, w.state))))),
        h('h2', {}, 'Agents'),
        h('ul', {}, q.agents.map(a => h('li', {}, `${a.name}: ${a.state}${a.online ? '' : ' (offline)'}, ${a.calls_taken} calls`))),
        h('h2', {}, `Service level (answered within ${d.within_s} s)`),
        h('p', {}, st.service_level == null ? '–' : `${Math.round(st.service_level * 100)} % of ${st.offered} · avg wait ${secs(st.avg_wait_s)} · avg handle ${secs(st.avg_handle_s)}`),
        h('div', { class: 'cp-grid' },
          bars([{ label: 'offered', value: st.offered || 0 }, { label: 'answered', value: st.answered || 0, color: '#2fbf71' }],
            { title: `Queue ${q.name}: callers offered and answered`, height: 120 }),
          bars([{ label: 'avg wait', value: st.avg_wait_s || 0, color: '#f5a524' }, { label: 'avg handle', value: st.avg_handle_s || 0, color: '#c77dff' }],
            { title: `Queue ${q.name}: average wait and handle time`, unit: ' s', height: 120 })));
    })));
  }
  hours.addEventListener('change', load);
  await load();
  // queue state changes arrive as call events: refresh on each (pushed, not polled)
  const source = new EventSource('/api/console/events');
  let pending = null;
  const again = () => { clearTimeout(pending); pending = setTimeout(load, 150); };
  source.addEventListener('snapshot', again);
  source.addEventListener('call', again);
  return () => source.close();
}

export async function qualityView(main) {
  const d = await api('/api/console/quality?days=7');
  const days = d.per_day.map(x => x.day.slice(5));
  const pct = (k) => d.per_day.map(x => (x[k] == null ? null : Math.round(x[k] * 1000) / 10));
  const conf = (k) => d.per_day.map(x => (x.stt_confidence?.[k] == null ? null : Math.round(x.stt_confidence[k] * 1000) / 10));
  const stage = (name, p) => d.per_day.map(x => x.latency_ms[name][p]);
  main.replaceChildren(h('h1', {}, 'Quality'), h('div', { class: 'cp-grid', id: 'quality' },
    card('Calls per hour', bars(d.per_hour.map(x => ({ label: x.hour, short: x.hour.slice(5, 13).replace('T', ' '), value: x.calls })), { title: 'Calls per hour' })),
    card('Answer rate (%)', lines(days, [{ name: 'answer rate', values: pct('answer_rate') }], { title: 'Answer rate per day', unit: '%' })),
    card('Turn latency p50 (ms)', lines(days, d.stages.map(s => ({ name: s, values: stage(s, 'p50') })), { title: 'Latency p50 per stage', unit: ' ms' }),
      h('div', { class: 'legend' }, d.stages.map((s, i) => h('span', { style: `--c:${['#5b8cff', '#2fbf71', '#f5a524', '#c77dff', '#e5484d'][i]}` }, s)))),
    card('First audio p90 (ms)', lines(days, [{ name: 'p90', values: stage('end_of_speech_to_first_audio', 'p90') }, { name: 'p99', values: stage('end_of_speech_to_first_audio', 'p99') }], { title: 'End of speech to first audio, p90 and p99', unit: ' ms' })),
    card('Barge-in rate (%)', lines(days, [{ name: 'barge-in', values: pct('barge_in_rate') }], { title: 'Barge-in rate per day', unit: '%' })),
    card('STT confidence (%)', lines(days, [{ name: 'mean', values: conf('mean') }, { name: 'p10', values: conf('p10') }], { title: 'Speech recognition confidence per day, mean and 10th percentile', unit: '%' })),
    card('Carrier failure rate (%)', lines(days, [{ name: 'failures', values: pct('carrier_failure_rate') }], { title: 'Carrier failure rate per day', unit: '%' })),
    card('Cost per day', bars(d.per_day.map(x => ({ label: x.day, short: x.day.slice(5), value: Number(x.cost) })), { title: 'Cost per day' }))));
  return null;
}
