// The conversation panel and the live caption: caller lines (a partial, then the final words),
// one bubble per agent reply (lines of one reply share its serial), and what the caller heard
// of an interrupted reply (the rest struck through). Pure DOM; app.js wires the call to it.
export function createConversation({ ui, page, words, emit, onAgentLine }) {
  let partialLi = null;
  function bubble(role, cls = '') {
    ui.transcript.querySelector('.hint')?.remove();
    const li = document.createElement('li');
    li.className = `${role} ${cls}`.trim();
    ui.transcript.append(li);
    ui.transcript.scrollTop = ui.transcript.scrollHeight;
    return li;
  }

  function onTranscript(m) {
    if (m.role === 'caller') {
      const li = partialLi || bubble('caller');
      partialLi = null;
      li.className = 'caller';
      li.textContent = m.text;
      page.transcripts.push({ role: 'caller', text: m.text });
      setCaption(m.text, true);
      return;
    }
    const reply = m.reply ?? null;
    const last = page.transcripts[page.transcripts.length - 1];
    if (reply !== null && last && last.role === 'agent' && last.reply === reply) {
      last.text = `${last.text} ${m.text}`;
      last.li.textContent = last.text;
    } else {
      const entry = { role: 'agent', text: m.text, reply, li: bubble('agent') };
      entry.li.textContent = m.text;
      entry.li.dataset.reply = String(reply);
      Object.defineProperty(entry, 'li', { enumerable: false, value: entry.li });
      page.transcripts.push(entry);
    }
    const entry = page.transcripts[page.transcripts.length - 1];
    emit('reply', { reply, text: entry.text, heard: null, interrupted: false });
    onAgentLine();
  }

  // What the caller heard of an interrupted reply: the heard words, the rest struck through.
  function onHeard(m) {
    const entry = [...page.transcripts].reverse().find((t) => t.role === 'agent' && t.reply === m.reply);
    if (!entry) return;
    entry.heard = m.text;
    entry.interrupted = !!m.interrupted;
    const full = entry.text;
    const heardWords = m.text ? m.text.split(/\s+/).length : 0;
    const rest = full.split(/\s+/).slice(heardWords).join(' ');
    entry.li.replaceChildren();
    if (m.text) entry.li.append(document.createTextNode(`${m.text} `));
    if (rest) {
      const span = document.createElement('span');
      span.className = 'unheard';
      span.textContent = rest;
      entry.li.append(span);
    }
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = words.interrupted;
    entry.li.append(tag);
    emit('reply', { reply: m.reply, text: full, heard: m.text, interrupted: entry.interrupted });
  }

  function setCaption(text, final = false, speaking = false) {
    ui.caption.hidden = !text;
    ui.captionText.textContent = text || '';
    ui.caption.classList.toggle('final', final);
    ui.captionLevel.hidden = !speaking;
    if (text) {
      page.captions.push({ text, final, speaking });
      emit('caption', { text, final, speaking });
    }
  }

  function onPartial(text) {
    if (!partialLi) partialLi = bubble('caller', 'partial');
    partialLi.textContent = text;
    setCaption(text, false, true);
  }

  function onHearing(on) {
    if (on) setCaption(partialLi ? partialLi.textContent : words.hearing, false, true);
  }

  // Thinking, then listening with no words: STT heard nothing, so the partial caption goes.
  function dropPartial() {
    partialLi?.remove();
    partialLi = null;
    setCaption('');
  }

  return { bubble, onTranscript, onHeard, onPartial, onHearing, setCaption, dropPartial,
    get partial() { return partialLi; } };
}
