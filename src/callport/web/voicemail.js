// Voicemail for the signed-in user (GET /api/voicemail: only the messages left for them):
// when, who called, the transcript and the audio; playing a message marks it heard
// (POST /api/voicemail/{id}/heard). Shown under the tasks; hidden while there is none.
const $ = (id) => document.getElementById(id);

export function startVoicemail(page, { every = 3000 } = {}) {
  const box = $('voicemail-box');
  const list = $('voicemail');
  const count = $('voicemail-count');
  if (!box || !list) return;
  page.voicemail = [];
  let shown = '';

  async function heard(id) {
    await fetch(`/api/voicemail/${id}/heard`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', credentials: 'same-origin',
    }).catch(() => {});
    refresh();
  }

  function render(messages, unheard) {
    box.hidden = messages.length === 0;
    count.textContent = unheard ? `${unheard} new` : '';
    const key = messages.map((m) => m.id).join(',');
    if (key === shown) { // the same messages: only what was heard changes (a playing <audio> plays on)
      for (const m of messages) list.querySelector(`li[data-id="${m.id}"]`)?.classList.toggle('new', !m.heard);
      return;
    }
    shown = key;
    list.replaceChildren();
    for (const m of messages) {
      const li = document.createElement('li');
      li.className = 'vm' + (m.heard ? '' : ' new');
      li.dataset.id = String(m.id);
      const head = document.createElement('span');
      head.className = 'vm-head';
      const at = new Date(m.at);
      head.textContent = `${m.caller || 'Unknown caller'} · ${Number.isNaN(at.getTime()) ? m.at
        : at.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' })} · ${Math.round(m.seconds)} s`;
      const text = document.createElement('span');
      text.className = 'vm-text';
      text.textContent = m.transcript || '(no words heard)';
      const audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'none';
      audio.src = `/api/voicemail/${m.id}/audio`;
      if (!m.heard) audio.addEventListener('play', () => heard(m.id), { once: true });
      li.append(head, text, audio);
      list.append(li);
    }
  }

  async function refresh() {
    try {
      const res = await fetch('/api/voicemail', { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) return;
      const body = await res.json();
      page.voicemail = body.voicemail || [];
      render(page.voicemail, body.new || 0);
    } catch {
      /* server restarting: the next tick tries again */
    }
  }

  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, every);
  return refresh;
}
