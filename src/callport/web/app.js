// The page: branding, call button, live captions, one bubble per reply (as heard), task list,
// mute, device pickers, keypad, call timer, error and reconnect states. In embed mode (the
// widget's iframe) it also answers the host page's postMessage API (embed.js).
import { Call, CallError } from './call.js';
import { words } from './i18n.js';
import { connectEmbed } from './embed.js';
import { createConversation } from './conversation.js';
import { startVoicemail } from './voicemail.js';

const config = JSON.parse(document.getElementById('callport-config').textContent);
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const ui = {
  call: $('call'), label: $('call-label'), status: $('status'), orb: $('orb'), agentState: $('agent-state'),
  transport: $('transport'), headphones: $('headphones'), you: $('you'), meter: $('meter'),
  latency: $('latency'), vad: $('vad-state'), error: $('error'), errorBox: $('error-box'), retry: $('retry'),
  transcript: $('transcript'), tasks: $('tasks'), taskCount: $('task-count'), who: $('who'),
  whoName: $('who-name'), logout: $('logout'), caption: $('caption'), captionText: $('caption-text'),
  captionLevel: $('caption-level'), timer: $('timer'), mute: $('mute'), keypadToggle: $('keypad-toggle'),
  keypad: $('keypad'), mic: $('mic'), speaker: $('speaker'), speakerOpt: $('speaker-opt'), connect: $('connect'),
};
const W = words(config.language);
const STATE_TEXT = { listening: W.listening, thinking: W.thinking, speaking: W.speaking };
const panels = new Set(config.panels || ['transcript', 'keypad', 'devices', 'details']);

// ---- branding: name, tagline, logo, greeting, panels, language (from [page])

function brand() {
  $('name').textContent = config.name;
  document.title = config.name;
  $('tagline').textContent = config.tagline;
  $('greeting').textContent = config.greeting;
  if (config.logo) {
    $('logo').src = config.logo;
    $('logo').hidden = false;
    $('logo-tile').hidden = true;
  }
  for (const el of document.querySelectorAll('[data-panel]')) {
    if (!panels.has(el.dataset.panel)) el.hidden = true;
  }
  const stage = document.querySelector('.stage');
  stage.classList.toggle('no-tasks', !panels.has('tasks'));
  stage.classList.toggle('no-transcript', !panels.has('transcript'));
  document.body.classList.toggle('embed', !!config.embed);
  ui.label.textContent = W.call;
  ui.mute.textContent = W.mute;
  ui.keypadToggle.textContent = W.keypad;
  ui.retry.textContent = W.retry;
  ui.connect.textContent = W.connect;
  $('mic-label').textContent = W.mic;
  $('speaker-label').textContent = W.speaker;
  $('conversation-title').textContent = W.conversation;
  $('tasks-title').textContent = W.tasks;
  ui.agentState.textContent = W.idleState;
  setStatus('idle', W.ready);
  if (!('setSinkId' in AudioContext.prototype) && !('setSinkId' in HTMLMediaElement.prototype)) ui.speakerOpt.hidden = true;
}

// Test and power-user switches: ?transport=webrtc&apm=0&gate=0&record=1
if (params.get('transport')) ui.transport.value = params.get('transport');
if (params.get('apm') === '0') ui.headphones.checked = true;

let call = null;
const page = (window.callport = {
  config, call: null, log: [], transcripts: [], tasks: [], state: 'idle', user: null,
  captions: [], digits: [], errors: [], ended: [], muted: false, bearer: '', listeners: [],
});
const emit = (name, detail) => { for (const fn of page.listeners) fn(name, detail); };
brand();

// ---- who is signed in; a 401 anywhere means the session ended: back to the sign-in page

function toLogin() {
  if (call) call.hangup(false, 'signed out');
  if (config.embed) { embed?.signedOut(); return; }
  location.replace(config.login || '/login');
}

async function loadMe() {
  try {
    const res = await fetch(config.me, { cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 401) return toLogin();
    if (!res.ok) return;
    const { user } = await res.json();
    page.user = user;
    if (!user.has_password) $('password-open').textContent = 'Set a password';
    ui.whoName.textContent = user.display_name || user.name;
    ui.who.hidden = false;
  } catch { /* server restarting */ }
}

// ---- set or change the password (the first-run owner has none: the sign-in link let them in)

const pw = {
  dialog: $('password-dialog'), form: $('password-form'), title: $('password-title'),
  currentField: $('current-field'), current: $('current-password'), next: $('new-password'),
  error: $('password-error'),
};
$('password-open').addEventListener('click', () => {
  const has = !!(page.user && page.user.has_password);
  pw.title.textContent = has ? 'Change password' : 'Set a password';
  pw.currentField.hidden = !has;
  pw.current.value = pw.next.value = '';
  pw.error.hidden = true;
  pw.dialog.showModal();
});
$('password-cancel').addEventListener('click', () => pw.dialog.close());
pw.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const res = await fetch('/api/me/password', {
    method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ password: pw.next.value, current: pw.current.value }),
  }).catch(() => null);
  if (res && res.status === 401) return toLogin();
  if (res && res.ok) {
    page.user = (await res.json()).user;
    $('password-open').textContent = 'Password';
    pw.dialog.close();
    return;
  }
  const body = res ? await res.json().catch(() => ({})) : {};
  pw.error.textContent = body.error || 'Cannot reach the callport server.';
  pw.error.hidden = false;
});

ui.logout.addEventListener('click', async () => {
  try {
    await fetch(config.logout, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', credentials: 'same-origin' });
  } finally {
    toLogin();
  }
});
let embed = null;
if (config.embed) embed = connectEmbed({ config, page, words: W, start: () => startCall(), hangup: () => call?.hangup(true, 'hung up'),
  mute: (on) => setMute(on), press: (d) => pressDigit(d), show: showError, ui });
else loadMe();

function setStatus(kind, text) {
  ui.status.className = `pill ${kind}`;
  ui.status.textContent = text;
  page.state = kind;
}

function showError(message, retry = false) {
  ui.error.textContent = message;
  ui.error.hidden = ui.errorBox.hidden = !message;
  ui.retry.hidden = !retry;
  if (message) { page.errors.push(message); emit('error', { message }); }
}

let lastAgentState = 'listening';
function setAgentState(state) {
  if (state === 'listening' && lastAgentState === 'thinking' && talk.partial) talk.dropPartial();
  lastAgentState = state;
  ui.orb.className = `orb ${state}`;
  ui.agentState.textContent = STATE_TEXT[state] || state;
  emit('state', { state: page.state, agent: state });
}

const talk = createConversation({ ui, page, words: W, emit,
  onAgentLine: () => { if (panels.has('tasks')) refreshTasks(); } });
const { bubble, onTranscript, onHeard, onPartial, onHearing, setCaption } = talk;

// ---- mute, keypad, devices, timer

function setMute(on) {
  page.muted = !!on;
  ui.mute.setAttribute('aria-pressed', String(page.muted));
  ui.mute.textContent = page.muted ? W.unmute : W.mute;
  call?.mute(page.muted);
  if (page.muted) setStatus('live', W.muted);
  else if (call?.ready) setStatus('live', W.live);
  emit('state', { state: page.state, muted: page.muted });
}
ui.mute.addEventListener('click', () => setMute(!page.muted));

function pressDigit(digit) {
  if (!call || !call.ready) return;
  call.pressDigit(digit);
  page.digits.push(digit);
  const last = ui.transcript.lastElementChild;
  if (last && last.classList.contains('digit')) last.textContent += digit;
  else bubble('caller', 'digit').textContent = `${W.pressed} ${digit}`;
}
ui.keypad.addEventListener('click', (e) => {
  const digit = e.target?.dataset?.digit;
  if (digit) pressDigit(digit);
});
ui.keypadToggle.addEventListener('click', () => {
  ui.keypad.hidden = !ui.keypad.hidden;
  ui.keypadToggle.setAttribute('aria-expanded', String(!ui.keypad.hidden));
});
document.addEventListener('keydown', (e) => {
  if (call && call.ready && /^[0-9*#]$/.test(e.key) && !['INPUT', 'SELECT', 'TEXTAREA'].includes(e.target.tagName)) pressDigit(e.key);
});

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  for (const [select, kind] of [[ui.mic, 'audioinput'], [ui.speaker, 'audiooutput']]) {
    const keep = select.value;
    select.replaceChildren(new Option(W.defaultDevice, ''));
    for (const d of devices.filter((x) => x.kind === kind && x.deviceId && x.deviceId !== 'default')) {
      select.append(new Option(d.label || `${kind === 'audioinput' ? W.mic : W.speaker} ${select.length}`, d.deviceId));
    }
    select.value = [...select.options].some((o) => o.value === keep) ? keep : '';
  }
}
navigator.mediaDevices?.addEventListener?.('devicechange', listDevices);
listDevices();
ui.mic.addEventListener('change', () => call?.setMic(ui.mic.value).catch((err) => showError(`${W.mic}: ${err.message || err}`)));
ui.speaker.addEventListener('change', () => call?.setSpeaker(ui.speaker.value));

let timer = null;
function startTimer() {
  const t0 = Date.now();
  ui.timer.hidden = false;
  const tick = () => {
    const s = Math.floor((Date.now() - t0) / 1000);
    ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    page.elapsed = s;
  };
  tick();
  timer = setInterval(tick, 1000);
}
function stopTimer() { clearInterval(timer); timer = null; }

async function startCall() {
  if (call) return;
  if (config.embed && !page.bearer) { embed?.needGrant(); return; }
  showError('');
  ui.call.disabled = true;
  ui.transport.disabled = ui.headphones.disabled = true;
  call = new Call({
    config, transport: ui.transport.value, headphones: ui.headphones.checked,
    gate: params.get('gate') !== '0', record: params.get('record') === '1',
    micId: ui.mic.value, speakerId: ui.speaker.value, bearer: page.bearer,
  });
  page.call = call;
  call.on('state', (s) => {
    if (s === 'hold' || s === 'resumed') { // the server put the call on hold, or took it off
      setStatus('live', s === 'hold' ? W.hold : (page.muted ? W.muted : W.live));
      emit('state', { state: s === 'hold' ? 'hold' : 'live' });
      return;
    }
    setStatus(s === 'live' ? 'live' : 'connecting', s === 'live' ? (page.muted ? W.muted : W.live) : W.connecting);
    if (s === 'live') { startTimer(); ui.mute.disabled = false; listDevices(); }
    emit('state', { state: s });
  })
    .on('agentState', setAgentState)
    .on('transcript', onTranscript)
    .on('partial', onPartial)
    .on('hearing', onHearing)
    .on('heard', onHeard)
    .on('error', (message) => {
      showError(`${W.crashed}: ${message}`);
      setStatus('error', W.error);
    })
    .on('latency', (l) => {
      page.log.push({ latency: l });
      if (l.source === 'page' || !ui.latency.dataset.page) ui.latency.textContent = `${Math.round(l.ms)} ms`;
      if (l.source === 'page') ui.latency.dataset.page = '1';
    })
    .on('speaking', (on) => { ui.you.textContent = on ? 'speaking' : 'quiet'; ui.you.classList.toggle('speaking', on); })
    .on('level', (v) => { ui.meter.value = ui.captionLevel.value = Math.min(1, v * 4); })
    .on('vad', (v) => { ui.vad.textContent = v === 'on' ? 'in browser (Silero)' : 'server only'; })
    .on('ended', (end) => endedUi(end));
  try {
    await call.start();
    if (page.muted) call.mute(true);
    ui.call.classList.add('hangup');
    ui.label.textContent = 'Hang up';
    ui.call.setAttribute('aria-label', 'Hang up');
    setAgentState('listening');
    if (!call.gate) ui.vad.textContent = 'server only';
  } catch (err) {
    const failed = call;
    call = null;
    page.call = failed;
    failed.handlers.ended = [];
    failed.hangup(false, 'failed');
    endedUi({ reason: 'failed', error: true, message: '' }, false);
    if (err.kind === 'signed-out') return toLogin();
    const message = err instanceof CallError ? err.message : `Could not start the call: ${err.message || err}`;
    showError(message, err.kind === 'unreachable');
    setStatus('error', err.kind === 'denied' ? W.micBlocked : W.notConnected);
  } finally {
    ui.call.disabled = false;
  }
}

function endedUi(end, record = true) {
  ui.transport.disabled = ui.headphones.disabled = false;
  ui.call.classList.remove('hangup');
  ui.label.textContent = W.call;
  ui.call.setAttribute('aria-label', W.call);
  ui.orb.className = 'orb idle';
  ui.mute.disabled = true;
  stopTimer();
  talk.dropPartial();
  ui.agentState.textContent = end.error ? W.failed : W.ended;
  if (record) page.ended.push({ reason: end.reason, error: end.error });
  if (end.error && record) {
    // A crash or a dropped connection mid-call: say so, and offer to call again.
    const why = end.message ? `${W.crashed}: ${end.message}` : `${W.lost} (${end.reason})`;
    showError(why, true);
    setStatus('error', W.failed);
  } else if (page.state !== 'error') setStatus('idle', W.ready);
  ui.meter.value = 0;
  call = null;
  emit('state', { state: end.error ? 'error' : 'ended', reason: end.reason });
}
ui.retry.addEventListener('click', () => { showError(''); startCall(); });

ui.call.addEventListener('click', () => {
  if (call) call.hangup(true, 'hung up');
  else startCall(); // AudioContext is created and resumed inside this click
});

// ---- task list: poll the Task Manager API (simple and robust: full refresh, ~1 s)

let known = new Set();
let polling = false;
async function refreshTasks() {
  if (polling) return;
  polling = true;
  try {
    if (config.embed) return;
    const res = await fetch(config.tasks, { cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 401) return toLogin();
    if (!res.ok) return;
    const body = await res.json();
    renderTasks(Array.isArray(body) ? body : body.tasks || []);
  } catch {
    /* server restarting: try again on the next tick */
  } finally {
    polling = false;
  }
}

function renderTasks(tasks) {
  if (!panels.has('tasks')) return;
  page.tasks = tasks;
  ui.tasks.replaceChildren();
  const open = tasks.filter((t) => !t.done).length;
  ui.taskCount.textContent = tasks.length ? String(open) : '';
  if (!tasks.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No tasks yet';
    ui.tasks.append(li);
  }
  const next = new Set();
  for (const t of tasks) {
    const key = String(t.id ?? t.title);
    next.add(key);
    const li = document.createElement('li');
    li.className = (t.done ? 'done ' : '') + (known.size && !known.has(key) ? 'new' : '');
    const box = document.createElement('span');
    box.className = 'box';
    const body = document.createElement('span');
    const title = document.createElement('span');
    title.className = 'title';
    title.textContent = t.title ?? t.text ?? '';
    body.append(title);
    if (t.due) {
      const due = document.createElement('span');
      due.className = 'due';
      const d = new Date(t.due);
      due.textContent = Number.isNaN(d.getTime()) ? String(t.due)
        : `Due ${d.toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric' })}`;
      body.append(due);
    }
    li.append(box, body);
    ui.tasks.append(li);
  }
  known = next;
}

if (panels.has('tasks') && !config.embed) {
  startVoicemail(page); // the messages callers left for this user
  refreshTasks();
  setInterval(() => { if (!document.hidden) refreshTasks(); }, 1000);
}
if (!window.isSecureContext) showError('This page is not a secure context: the microphone only works over HTTPS or on localhost.');
if (!config.vad || window.__noVadBundle) ui.vad.textContent = 'server only';
