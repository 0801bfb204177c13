// A minimal browser voice client around worklets.js, usable with any server:
//   microphone -> 'callport-capture' -> 20 ms PCM16 frames at 16 kHz -> WebSocket (binary)
//   WebSocket binary PCM16 16 kHz -> 'callport-playback' -> speakers
// Text frames are JSON control messages:
//   server -> page {"type":"clear"}              flush queued audio now (barge-in)
//   server -> page {"type":"mark","name":"m1"}   page answers {"type":"mark","name":"m1","played":true}
//                                                when playback passes it, or played:false if a
//                                                clear dropped it first
// start() must run inside a click/tap handler: that is where the AudioContext may start.

class VoicePage {
  constructor({ workletUrl = 'worklets.js', apm = true, onState = () => {} } = {}) {
    this.workletUrl = workletUrl;
    this.apm = apm; // echo cancellation, noise suppression, AGC: off only for headphones
    this.onState = onState;
    this.ws = null;
  }

  async start(wsUrl) {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new Error('The microphone needs a secure page: https:// or http://localhost');
    }
    // Create and resume in the same user gesture (autoplay policy; iOS Safari needs it).
    this.ctx = new AudioContext({ latencyHint: 'interactive' });
    const resumed = this.ctx.resume();
    if (navigator.audioSession) navigator.audioSession.type = 'play-and-record';
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: this.apm, noiseSuppression: this.apm,
               autoGainControl: this.apm },
    });
    await resumed;
    await this.ctx.audioWorklet.addModule(this.workletUrl);
    this.capture = new AudioWorkletNode(this.ctx, 'callport-capture');
    this.playback = new AudioWorkletNode(this.ctx, 'callport-playback', { outputChannelCount: [2] });
    this.ctx.createMediaStreamSource(this.stream).connect(this.capture);
    this.playback.connect(this.ctx.destination);
    this.playback.port.onmessage = (e) => this.onPlayback(e.data);
    this.capture.port.onmessage = (e) => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(e.data.pcm.buffer);
    };
    if (wsUrl) await this.connect(wsUrl);
    this.onState('running');
  }

  connect(wsUrl) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => { this.ws = ws; resolve(); };
      ws.onerror = () => reject(new Error(`cannot connect to ${wsUrl}`));
      ws.onclose = () => { this.ws = null; this.onState('closed'); };
      ws.onmessage = (e) => {
        if (typeof e.data !== 'string') {
          this.playback.port.postMessage({ type: 'audio', pcm: new Int16Array(e.data) });
          return;
        }
        const m = JSON.parse(e.data);
        if (m.type === 'clear') this.playback.port.postMessage({ type: 'clear' });
        else if (m.type === 'mark') this.playback.port.postMessage({ type: 'mark', name: m.name });
      };
    });
  }

  onPlayback(m) {
    const send = (x) => this.ws && this.ws.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify(x));
    if (m.type === 'played') send({ type: 'mark', name: m.name, played: true });
    else if (m.type === 'idle' && m.flushed) for (const name of m.dropped) send({ type: 'mark', name, played: false });
    else if (m.type === 'playing' || m.type === 'idle') this.onState(m.type === 'playing' ? 'speaking' : 'listening');
  }

  async stop() {
    if (this.ws) this.ws.close();
    for (const t of this.stream?.getTracks() || []) t.stop();
    if (this.ctx) await this.ctx.close();
    this.onState('stopped');
  }
}

// Self-check used by scripts/worklet_smoke.py (headless Chromium with a fake microphone):
// frames arrive from the capture worklet, a tone played through the playback worklet comes out
// (tapped by a second capture node) and its mark is reported, and 'clear' drops queued audio.
async function smokeTest({ captureSeconds = 1.0 } = {}) {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const ctx = new AudioContext();
  await ctx.resume();
  await ctx.audioWorklet.addModule('worklets.js');
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const result = { contextRate: ctx.sampleRate, frames: 0, badFrames: 0, playbackEvents: [] };
  const capture = new AudioWorkletNode(ctx, 'callport-capture');
  capture.port.onmessage = (e) => {
    const { pcm } = e.data;
    result.frames++;
    if (!(pcm instanceof Int16Array) || pcm.length !== 320) result.badFrames++;
  };
  const source = ctx.createMediaStreamSource(stream);
  source.connect(capture);
  await wait(captureSeconds * 1000);
  source.disconnect();
  result.framesPerSecond = result.frames / captureSeconds;

  const playback = new AudioWorkletNode(ctx, 'callport-playback', { outputChannelCount: [2] });
  const tap = new AudioWorkletNode(ctx, 'callport-capture');
  let tapPeak = 0;
  tap.port.onmessage = (e) => { for (const s of e.data.pcm) tapPeak = Math.max(tapPeak, Math.abs(s) / 32768); };
  playback.connect(tap);
  playback.connect(ctx.destination);
  const events = [];
  playback.port.onmessage = (e) => { if (e.data.type !== 'level') events.push(e.data); };
  const toneAt16k = (seconds) => {
    const pcm = new Int16Array(Math.round(16000 * seconds));
    for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(0.5 * 32767 * Math.sin(2 * Math.PI * 440 * i / 16000));
    return pcm;
  };
  playback.port.postMessage({ type: 'audio', pcm: toneAt16k(0.4) });
  playback.port.postMessage({ type: 'mark', name: 'tone' });
  for (let i = 0; i < 60 && !events.some((m) => m.type === 'played'); i++) await wait(50);
  result.markPlayed = events.some((m) => m.type === 'played' && m.name === 'tone');
  result.tapPeak = tapPeak;

  playback.port.postMessage({ type: 'audio', pcm: toneAt16k(3.0) });
  playback.port.postMessage({ type: 'mark', name: 'long' });
  await wait(300);
  playback.port.postMessage({ type: 'clear' });
  for (let i = 0; i < 40 && !events.some((m) => m.type === 'idle' && m.flushed); i++) await wait(25);
  const flushed = events.find((m) => m.type === 'idle' && m.flushed);
  result.clearDropped = flushed ? flushed.dropped : null;
  result.longPlayed = events.some((m) => m.type === 'played' && m.name === 'long');
  result.playbackEvents = events.map((m) => m.type);
  for (const t of stream.getTracks()) t.stop();
  await ctx.close();
  return result;
}

// The WebSocket path end to end, for scripts/worklet_smoke.py's echo server: run a VoicePage
// against `url` for `seconds`, then stop.
async function wsTest(url, seconds = 1.5) {
  const states = [];
  const page = new VoicePage({ apm: false, onState: (s) => states.push(s) });
  await page.start(url);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await page.stop();
  return states;
}

window.VoicePage = VoicePage;
window.smokeTest = smokeTest;
window.wsTest = wsTest;
