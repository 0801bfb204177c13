// Listen in and whisper (admins, a call bridged to a person): the supervisor's audio runs
// through the browser page's own Call class (call.js) over the WebSocket transport, on the
// console's endpoints (server.console_listen). Whisper: the microphone reaches the agent only.
import { api, config } from './dom.js';

const active = new Map();  // call id -> { call, whisper }

const base = (id) => `/api/console/calls/${encodeURIComponent(id)}`;

export function listening(id) { return active.get(id) || null; }

export async function listen(id, onEnd) {
  const { Call } = await import(`${config.static}/call.js`);
  const call = new Call({
    config: { static: config.static, token: `${base(id)}/listen`, ws: `${base(id)}/listen/media`, vad: false },
    transport: 'ws', headphones: true, gate: false,
  });
  const state = { call, whisper: false };
  active.set(id, state);
  call.on('ended', () => { if (active.get(id) === state) active.delete(id); onEnd?.(); });
  try {
    await call.start();
  } catch (err) {
    active.delete(id);
    throw err;
  }
  call.mute(true);  // listening only until Whisper is pressed
  return state;
}

export async function stopListening(id) {
  const state = active.get(id);
  if (!state) return;
  active.delete(id);
  await state.call.hangup(true, 'supervisor-left');
}

export async function setWhisper(id, on) {
  const state = active.get(id);
  if (!state) throw new Error('listen in first');
  await api(`${base(id)}/whisper`, { on });
  state.whisper = on;
  state.call.mute(!on);
}
