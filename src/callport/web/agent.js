// The agent desk (/agent): presence and offers over /agent/ws, the call's audio through the
// same Call class as the main page (call.js: WebSocket or WebRTC), on the agent endpoints.
// Test switches: ?transport=webrtc&apm=0&record=1 (record keeps what was heard for dump()).
import { Call } from './call.js';

const config = JSON.parse(document.getElementById('callport-config').textContent);
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const STATE_TEXT = {
  available: 'Available', away: 'Away', ringing: 'Ringing', busy: 'On a call', 'wrap-up': 'Wrap-up',
};

const desk = (window.callport = {
  state: 'connecting', offer: null, call: null, ringing: false, ringTones: 0, results: [],
  ended: [], events: [],
});

let ws = null;
let retry = 500;
let timer = null;
let started = 0;
let ringCtx = null;
let ringTimer = null;

// ---- the control connection

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}${config.events}`);
  ws.onopen = () => { retry = 500; notice(''); };
  ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  ws.onclose = () => {
    setPill('connecting', 'Reconnecting…');
    stopRing();
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

function send(msg) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function onMessage(m) {
  desk.events.push(m.type);
  switch (m.type) {
    case 'hello':
      $('who-name').textContent = m.agent.display_name;
      $('queues').textContent = m.queues.length ? `Queues: ${m.queues.join(', ')}` : 'No queues yet';
      break;
    case 'state': showState(m); break;
    case 'offer': showOffer(m); break;
    case 'offer-gone':
      if (desk.offer?.id === m.id && !desk.call) hideOffer(reasonText(m.reason));
      break;
    case 'connected': onConnected(); break;
    case 'ended': onEnded(m.reason); break;
    case 'result':
      desk.results.push(m);
      notice(m.ok ? (m.action === 'pause_recording'
        ? ($('record-pause').getAttribute('aria-pressed') === 'true' ? 'Recording paused.' : 'Recording again.')
        : m.detail === 'on hold' ? 'The caller is on hold (they hear music).'
        : m.detail === 'resumed' ? 'The caller is back with you.' : 'Transferred.') : m.detail);
      if (m.action === 'hold' && !m.ok) { $('hold').setAttribute('aria-pressed', 'false'); $('hold').textContent = 'Hold'; }
      if (m.action === 'pause_recording' && !m.ok) setRecordPaused(false);
      break;
    case 'error': console.warn('agent desk:', m.message); break;
    default: break;
  }
}

function reasonText(reason) {
  return {
    'no-answer': 'The call rang out and went to the next agent.',
    canceled: 'The caller is no longer waiting for you.',
    'answered elsewhere': 'Answered on another page.',
    declined: 'Declined.',
    'no-audio': 'The audio could not be connected.',
  }[reason] || '';
}

// ---- state

function setPill(cls, text) {
  const pill = $('state');
  pill.className = `pill ${cls}`;
  pill.textContent = text;
}

function showState(m) {
  desk.state = m.state;
  let text = STATE_TEXT[m.state] || m.state;
  if (m.state === 'wrap-up' && m.until_s) text = `Wrap-up (${Math.ceil(m.until_s)} s)`;
  setPill(m.state, text);
  $('available').checked = m.state !== 'away';
  $('idle-note').hidden = ['ringing', 'busy'].includes(m.state);
}

// ---- an offer

function showOffer(m) {
  desk.offer = m;
  const who = m.caller.name || m.caller.number || 'Unknown caller';
  $('offer-queue').textContent = m.queue;
  $('offer-caller').textContent = m.caller.name && m.caller.number ? `${m.caller.name} (${m.caller.number})` : who;
  $('offer-wait').textContent = `Waited ${formatTime(m.waited_s)}${m.callback ? ' · call-back' : ''}`;
  showCaller(m);
  $('offer').hidden = false;
  $('answer').disabled = false;
  $('decline').disabled = false;
  $('answer').focus();
  startRing();
  document.title = `☎ ${who} · Agent`;
}

function showCaller(m) {
  $('fact-who').textContent = m.caller.name || 'Not identified';
  $('fact-number').textContent = m.caller.number || '–';
  $('fact-queue').textContent = m.queue;
  $('fact-wait').textContent = formatTime(m.waited_s);
  $('summary').textContent = m.summary || 'No summary.';
  const list = $('transcript');
  list.replaceChildren();
  if (!m.transcript.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = 'Nothing was said before the call reached you.';
    list.append(li);
  }
  for (const [speaker, text] of m.transcript) {
    const li = document.createElement('li');
    li.className = speaker === 'caller' ? 'caller' : 'agent';
    li.textContent = text;
    li.setAttribute('aria-label', `${speaker === 'caller' ? 'Caller' : 'Assistant'}: ${text}`);
    list.append(li);
  }
}

function hideOffer(why = '') {
  $('offer').hidden = true;
  stopRing();
  document.title = `Agent · ${config.name}`;
  if (why) notice(why);
}

// The ring: the classic 440 + 480 Hz pair, 1 s on, 2 s off, until answered or gone.
function startRing() {
  stopRing();
  desk.ringing = true;
  try {
    ringCtx = new AudioContext();
    ringCtx.resume().catch(() => {});
  } catch { ringCtx = null; }
  const burst = () => {
    if (!ringCtx || ringCtx.state === 'closed') return;
    desk.ringTones++;
    const gain = ringCtx.createGain();
    gain.gain.value = 0.1;
    gain.connect(ringCtx.destination);
    const end = ringCtx.currentTime + 1;
    for (const f of [440, 480]) {
      const o = ringCtx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      o.stop(end);
    }
  };
  burst();
  ringTimer = setInterval(burst, 3000);
}

function stopRing() {
  desk.ringing = false;
  if (ringTimer) clearInterval(ringTimer);
  ringTimer = null;
  ringCtx?.close().catch(() => {});
  ringCtx = null;
}

// ---- answering and the call

async function answer() {
  const offer = desk.offer;
  if (!offer) return;
  $('answer').disabled = true;
  $('decline').disabled = true;
  stopRing();
  send({ type: 'answer', id: offer.id });
  const call = new Call({
    config: { static: config.static, token: config.token, ws: config.ws, offer: config.offer, vad: false },
    transport: params.get('transport') || $('transport').value,
    headphones: $('headphones').checked || params.get('apm') === '0',
    gate: false, record: params.get('record') === '1',
  });
  desk.call = call;
  call.on('ended', (end) => { desk.ended.push(end); if (desk.call === call) callOver(); });
  call.on('error', (message) => showError(message));
  try {
    await call.start();
  } catch (err) {
    showError(err.message || String(err));
    desk.call = null;
    hideOffer();
  }
}

function decline() {
  if (!desk.offer) return;
  send({ type: 'decline', id: desk.offer.id });
  hideOffer('Declined.');
  desk.offer = null;
}

function onConnected() {
  hideOffer();
  const m = desk.offer;
  $('call-caller').textContent = m ? (m.caller.name || m.caller.number || 'Caller') : 'Caller';
  $('oncall').hidden = false;
  $('hold').setAttribute('aria-pressed', 'false');
  $('mute').setAttribute('aria-pressed', 'false');
  setRecordPaused(false);
  started = Date.now();
  timer = setInterval(() => { $('timer').textContent = formatTime((Date.now() - started) / 1000); }, 500);
  $('hangup').focus();
}

function onEnded(reason) {
  const call = desk.call;
  if (call && !call.ended) call.hangup(false, reason);
  callOver();
}

function callOver() {
  if (timer) clearInterval(timer);
  timer = null;
  $('oncall').hidden = true;
  desk.call = null;
  desk.offer = null;
}

function showError(message) {
  $('error').textContent = message;
  $('error-box').hidden = !message;
}

function notice(text) { $('notice').textContent = text; }

function formatTime(s) {
  const total = Math.max(0, Math.round(s || 0));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

// ---- controls

$('answer').addEventListener('click', answer);
$('decline').addEventListener('click', decline);
$('hangup').addEventListener('click', () => desk.call?.hangup(true));
function setRecordPaused(paused) {
  $('record-pause').setAttribute('aria-pressed', String(paused));
  $('record-pause').textContent = paused ? 'Resume recording' : 'Pause recording';
}

$('record-pause').addEventListener('click', () => {
  const paused = $('record-pause').getAttribute('aria-pressed') !== 'true';
  setRecordPaused(paused);
  send({ type: 'recording', paused });
});

$('hold').addEventListener('click', () => {
  const held = $('hold').getAttribute('aria-pressed') !== 'true';
  $('hold').setAttribute('aria-pressed', String(held));
  $('hold').textContent = held ? 'Resume' : 'Hold';
  send({ type: 'hold', held });
});
$('mute').addEventListener('click', () => {
  const on = $('mute').getAttribute('aria-pressed') !== 'true';
  $('mute').setAttribute('aria-pressed', String(on));
  desk.call?.mute(on);
});
$('transfer-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const target = $('transfer-target').value.trim();
  if (target) send({ type: 'transfer', target });
});
$('available').addEventListener('change', () => send({ type: 'away', away: !$('available').checked }));
$('logout').addEventListener('click', async () => {
  await fetch(config.logout, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', credentials: 'same-origin' }).catch(() => {});
  location.replace(config.login);
});
document.addEventListener('keydown', (e) => {
  if ($('offer').hidden || e.target.closest('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'a' || e.key === 'A') { e.preventDefault(); answer(); }
  if (e.key === 'd' || e.key === 'D') { e.preventDefault(); decline(); }
});

$('who-name').textContent = config.agent.display_name;
$('queues').textContent = config.queues.length ? `Queues: ${config.queues.join(', ')}` : 'No queues yet';
connect();
