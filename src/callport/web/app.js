// The page: call button, transcripts, agent state, task list, latency, errors.
import { Call, CallError } from './call.js';

const config = JSON.parse(document.getElementById('callport-config').textContent);
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const ui = {
  call: $('call'), label: $('call-label'), status: $('status'), orb: $('orb'), agentState: $('agent-state'),
  transport: $('transport'), headphones: $('headphones'), you: $('you'), meter: $('meter'),
  latency: $('latency'), vad: $('vad-state'), error: $('error'), transcript: $('transcript'),
  tasks: $('tasks'), taskCount: $('task-count'), who: $('who'), whoName: $('who-name'), logout: $('logout'),
};
const STATE_TEXT = {
  listening: 'Listening…', thinking: 'Thinking…', speaking: 'Speaking — talk over me to interrupt',
};

// Test and power-user switches: ?transport=webrtc&apm=0&gate=0&record=1
if (params.get('transport')) ui.transport.value = params.get('transport');
if (params.get('apm') === '0') ui.headphones.checked = true;

let call = null;
const page = (window.callport = { config, call: null, log: [], transcripts: [], tasks: [], state: 'idle', user: null });

// ---- who is signed in; a 401 anywhere means the session ended: back to the sign-in page

function toLogin() {
  if (call) call.hangup(false, 'signed out');
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
loadMe();

function setStatus(kind, text) {
  ui.status.className = `pill ${kind}`;
  ui.status.textContent = text;
  page.state = kind;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

function setAgentState(state) {
  ui.orb.className = `orb ${state}`;
  ui.agentState.textContent = STATE_TEXT[state] || state;
}

function addLine(role, text) {
  ui.transcript.querySelector('.hint')?.remove();
  const li = document.createElement('li');
  li.className = role;
  li.textContent = text;
  ui.transcript.append(li);
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
  page.transcripts.push({ role, text });
}

async function startCall() {
  showError('');
  ui.call.disabled = true;
  ui.transport.disabled = ui.headphones.disabled = true;
  call = new Call({
    config, transport: ui.transport.value, headphones: ui.headphones.checked,
    gate: params.get('gate') !== '0', record: params.get('record') === '1',
  });
  page.call = call;
  call.on('state', (s) => setStatus(s === 'live' ? 'live' : 'connecting', s === 'live' ? 'On call' : 'Connecting…'))
    .on('agentState', setAgentState)
    .on('transcript', (m) => { addLine(m.role, m.text); if (m.role === 'agent') refreshTasks(); })
    .on('latency', (l) => {
      page.log.push({ latency: l });
      if (l.source === 'page' || !ui.latency.dataset.page) ui.latency.textContent = `${Math.round(l.ms)} ms`;
      if (l.source === 'page') ui.latency.dataset.page = '1';
    })
    .on('speaking', (on) => { ui.you.textContent = on ? 'speaking' : 'quiet'; ui.you.classList.toggle('speaking', on); })
    .on('level', (v) => { ui.meter.value = Math.min(1, v * 4); })
    .on('vad', (v) => { ui.vad.textContent = v === 'on' ? 'in browser (Silero)' : 'server only'; })
    .on('ended', (reason) => endedUi(reason));
  try {
    await call.start();
    ui.call.classList.add('hangup');
    ui.label.textContent = 'Hang up';
    ui.call.setAttribute('aria-label', 'Hang up');
    setAgentState('listening');
    if (!call.gate) ui.vad.textContent = 'server only';
  } catch (err) {
    if (err.kind === 'signed-out') return toLogin();
    const message = err instanceof CallError ? err.message : `Could not start the call: ${err.message || err}`;
    showError(message);
    setStatus('error', err.kind === 'denied' ? 'Microphone blocked' : 'Not connected');
    call.hangup(false, 'failed');
    call = null;
  } finally {
    ui.call.disabled = false;
  }
}

function endedUi(reason) {
  ui.transport.disabled = ui.headphones.disabled = false;
  ui.call.classList.remove('hangup');
  ui.label.textContent = 'Call';
  ui.call.setAttribute('aria-label', 'Start call');
  ui.orb.className = 'orb idle';
  ui.agentState.textContent = reason === 'failed' ? 'Call failed' : 'Call ended';
  if (page.state !== 'error') setStatus('idle', 'Ready to call');
  ui.meter.value = 0;
  call = null;
}

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

refreshTasks();
setInterval(() => { if (!document.hidden) refreshTasks(); }, 1000);
if (!window.isSecureContext) showError('This page is not a secure context: the microphone only works over HTTPS or on localhost.');
if (!config.vad || window.__noVadBundle) ui.vad.textContent = 'server only';
