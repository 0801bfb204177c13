// One call from the page: microphone, worklets, client VAD, and a WebSocket or WebRTC link.
// Emits events through `on(name, fn)`: state (live; hold / resumed: the server's hold),
// transcript, partial, hearing (the server's VAD
// hears the caller), heard (what was heard of an interrupted reply), agentState, latency,
// speaking, level, vad, error (a server `error` message), ended ({reason, error, message}).
// No DOM access here (app.js owns the page), except the <audio id="remote"> element of WebRTC.
// Mute, device choice and the keypad: mute(on), setMic(id), setSpeaker(id), pressDigit(d).
// `bearer` (the embedded widget's granted session) goes out as Authorization: Bearer and as
// the WebSocket subprotocol callport.bearer.<secret>; the normal page uses its cookie.

const ERROR_REASONS = /error|fail|crash|lost|closed \(/i;

const PRE_ROLL_FRAMES = 15; // 300 ms of audio sent before the VAD's speech start
const ICE_WAIT_MS = 2000;
const BARGE_FRAMES = 3; // Silero v5 frames are 32 ms

export class Call {
  constructor({ config, transport, headphones, gate = true, record = false, vadOptions = {},
    micId = '', speakerId = '', bearer = '' }) {
    this.micId = micId;
    this.speakerId = speakerId;
    this.bearer = bearer;
    this.muted = false;
    this.serverError = '';
    this.config = config;
    this.transport = transport;
    this.headphones = headphones;
    this.gate = gate && config.vad && !!window.vad;
    this.record = record;
    this.vadOptions = vadOptions;
    this.handlers = {};
    this.ended = false;
    this.gateOpen = !this.gate;
    this.preRoll = [];
    this.dropAgentAudio = false;
    this.agentState = 'listening';
    this.speechEndAt = null;
    this.stats = { framesSent: 0, framesReceived: 0, bytesSent: 0, vadMs: [], interrupts: 0, serverClears: 0 };
    this.rec = { mic: [], remote: [], micStart: null, remoteStart: null };
  }

  on(name, fn) { (this.handlers[name] ||= []).push(fn); return this; }
  emit(name, value) { for (const fn of this.handlers[name] || []) fn(value); }

  // Must run inside the click handler: creates and resumes the AudioContext there.
  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new CallError('insecure', 'The microphone needs a secure page: open it over HTTPS (or on localhost).');
    }
    this.ctx = new AudioContext({ latencyHint: 'interactive' });
    const resumed = this.ctx.resume();
    this.emit('state', 'connecting');
    const apm = !this.headphones;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: this.micConstraints() });
    } catch (err) {
      await this.ctx.close();
      if (err.name === 'NotAllowedError' || err.name === 'SecurityError') {
        throw new CallError('denied', 'Microphone access was denied. Allow it in the address bar and call again.');
      }
      throw new CallError('mic', `No microphone available (${err.name}).`);
    }
    await resumed;
    if (this.speakerId) await this.setSpeaker(this.speakerId);
    const token = await this.fetchToken();
    try {
      await this.ctx.audioWorklet.addModule(`${this.config.static}/worklets.js`);
    } catch {
      throw new CallError('unreachable', 'Cannot load the audio engine from the server. Is it still running?');
    }
    this.capture = new AudioWorkletNode(this.ctx, 'callport-capture');
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.source.connect(this.capture);
    this.capture.port.onmessage = (e) => this.onCaptured(e.data);

    if (this.gate) await this.startVad();
    if (this.transport === 'webrtc') await this.connectRtc(token);
    else await this.connectWs(token);
  }

  async fetchToken() {
    let res;
    try {
      res = await fetch(this.config.token, {
        method: 'POST', headers: this.headers(), body: '{}', credentials: this.bearer ? 'omit' : 'same-origin',
      });
    } catch {
      throw new CallError('unreachable', 'Cannot reach the callport server. Is it running?');
    }
    if (res.status === 401) throw new CallError('signed-out', 'You are signed out. Sign in again to call.');
    if (res.status === 503) throw new CallError('busy', BUSY_MESSAGE);
    if (!res.ok) throw new CallError('refused', `The server refused the call (HTTP ${res.status}).`);
    return res.json();
  }

  headers() {
    const h = { 'content-type': 'application/json' };
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    return h;
  }

  micConstraints() {
    const apm = !this.headphones;
    const audio = { channelCount: 1, echoCancellation: apm, noiseSuppression: apm, autoGainControl: apm };
    if (this.micId) audio.deviceId = { exact: this.micId };
    return audio;
  }

  // ---- mute, devices, keypad

  mute(on = true) {
    this.muted = !!on;
    for (const t of this.stream?.getAudioTracks() || []) t.enabled = !this.muted; // WebRTC sends silence
    if (this.muted && this.gateOpen && this.gate) this.onSpeechEnd(true);
    this.emit('muted', this.muted);
  }

  async setMic(id) {
    this.micId = id;
    if (!this.stream || this.ended) return;
    const next = await navigator.mediaDevices.getUserMedia({ audio: this.micConstraints() });
    const [track] = next.getAudioTracks();
    track.enabled = !this.muted;
    this.source?.disconnect();
    this.source = this.ctx.createMediaStreamSource(next);
    this.source.connect(this.capture);
    const sender = this.pc?.getSenders().find((s) => s.track && s.track.kind === 'audio');
    if (sender) await sender.replaceTrack(track);
    this.stream.getTracks().forEach((t) => t.stop());
    this.stream = next;
  }

  // setSinkId where the browser has it (Chromium: AudioContext and media elements).
  async setSpeaker(id) {
    this.speakerId = id;
    if (this.ctx && typeof this.ctx.setSinkId === 'function') await this.ctx.setSinkId(id || '').catch(() => {});
    const el = this.remoteAudio || document.getElementById('remote');
    if (el && typeof el.setSinkId === 'function') await el.setSinkId(id || '').catch(() => {});
  }

  pressDigit(digit) {
    this.sendControl({ type: 'dtmf', digit: String(digit) });
    this.tone(String(digit));
  }

  // The local key-press tone (the standard DTMF pair, 120 ms), heard only on this page.
  tone(digit) {
    const rows = { 1: 697, 2: 697, 3: 697, 4: 770, 5: 770, 6: 770, 7: 852, 8: 852, 9: 852, '*': 941, 0: 941, '#': 941 };
    const cols = { 1: 1209, 4: 1209, 7: 1209, '*': 1209, 2: 1336, 5: 1336, 8: 1336, 0: 1336, 3: 1477, 6: 1477, 9: 1477, '#': 1477 };
    if (!this.ctx || this.ctx.state === 'closed' || !(digit in rows)) return;
    const gain = this.ctx.createGain();
    gain.gain.value = 0.08;
    gain.connect(this.ctx.destination);
    const end = this.ctx.currentTime + 0.12;
    for (const f of [rows[digit], cols[digit]]) {
      const o = this.ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      o.stop(end);
    }
  }

  // ---- client VAD (Silero v5 in onnxruntime-web, self-hosted assets)

  async startVad() {
    const base = `${this.config.static}/vendor`;
    const opts = {
      model: 'v5', baseAssetPath: `${base}/vad/`, onnxWASMBasePath: `${base}/ort/`,
      audioContext: this.ctx, startOnLoad: false,
      getStream: async () => this.stream, pauseStream: async () => {}, resumeStream: async () => this.stream,
      positiveSpeechThreshold: 0.5, negativeSpeechThreshold: 0.35, redemptionMs: 400,
      preSpeechPadMs: 300, minSpeechMs: 250,
      ortConfig: (ort) => { ort.env.wasm.numThreads = 1; },
      onSpeechStart: () => this.onSpeechStart(),
      onFrameProcessed: (p) => this.onVadFrame(p),
      onSpeechEnd: () => this.onSpeechEnd(false),
      onVADMisfire: () => this.onSpeechEnd(true),
      ...this.vadOptions,
    };
    try {
      this.vad = await window.vad.MicVAD.new(opts);
      const process = this.vad.processFrame;
      this.vad.processFrame = async (frame) => {
        const t0 = performance.now();
        await process(frame);
        if (this.stats.vadMs.length < 20000) this.stats.vadMs.push(performance.now() - t0);
      };
      await this.vad.start();
      this.emit('vad', 'on');
    } catch (err) {
      console.warn('client VAD unavailable, sending all audio', err);
      this.gate = false;
      this.gateOpen = true;
      this.emit('vad', 'off');
    }
  }

  onSpeechStart() {
    if (this.muted) return;
    this.emit('speaking', true);
    if (!this.gate || this.gateOpen) return;
    this.gateOpen = true;
    this.sendControl({ type: 'vad', speaking: true });
    for (const f of this.preRoll) this.sendFrame(f);
    this.preRoll = [];
  }

  // Barge-in needs BARGE_FRAMES consecutive confident frames (~100 ms): quick, yet a click
  // or a residue of the agent's own voice past echo cancelling does not cut it off.
  onVadFrame(p) {
    this.confident = p.isSpeech > 0.6 ? (this.confident || 0) + 1 : 0;
    if (this.confident === BARGE_FRAMES) this.onBargeIn();
  }

  onBargeIn() {
    if (this.muted) return;
    if (this.agentState !== 'speaking' && !this.playing) return;
    // Instant local barge-in: silence the agent now; the server's VAD decides the turn.
    this.stats.interrupts++;
    this.flushPlayback();
    this.dropAgentAudio = true;
    this.sendControl({ type: 'interrupt' });
  }

  onSpeechEnd(misfire) {
    this.emit('speaking', false);
    if (!misfire) this.speechEndAt = performance.now() - 400; // redemptionMs after the last speech
    if (!this.gate || !this.gateOpen) return;
    this.gateOpen = false;
    this.sendControl({ type: 'vad', speaking: false });
  }

  // ---- audio in

  onCaptured({ pcm, at, level }) {
    if (this.muted) { pcm = new Int16Array(pcm.length); level = 0; } // silence keeps the media clock
    this.emit('level', level);
    if (this.record) {
      if (this.rec.micStart === null) this.rec.micStart = at;
      this.rec.mic.push(pcm);
    }
    if (this.gateOpen) {
      this.sendFrame(pcm);
    } else {
      this.preRoll.push(pcm);
      if (this.preRoll.length > PRE_ROLL_FRAMES) this.preRoll.shift();
    }
  }

  sendFrame(pcm) {
    if (this.transport !== 'ws' || !this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return;
    this.ws.send(pcm.buffer);
    this.stats.framesSent++;
    this.stats.bytesSent += pcm.byteLength;
  }

  sendControl(msg) {
    const text = JSON.stringify(msg);
    if (this.transport === 'ws') {
      if (this.ws?.readyState === WebSocket.OPEN && this.ready) this.ws.send(text);
    } else if (this.dc?.readyState === 'open') {
      this.dc.send(text);
    }
  }

  // ---- audio out

  async setupPlayback() {
    this.playback = new AudioWorkletNode(this.ctx, 'callport-playback', { outputChannelCount: [1] });
    this.playback.connect(this.ctx.destination);
    this.playback.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'played') this.sendControl({ type: 'played', name: m.name });
      // The player carried out the server's clear: every 'played' before it went first.
      else if (m.type === 'cleared') { if (m.id !== undefined) this.sendControl({ type: 'cleared', id: m.id }); }
      else if (m.type === 'playing') this.onPlaying();
      else if (m.type === 'idle') this.playing = false;
    };
    if (this.record) this.tap(this.playback);
  }

  tap(node) {
    const tap = new AudioWorkletNode(this.ctx, 'callport-capture');
    node.connect(tap);
    tap.port.onmessage = (e) => {
      if (this.rec.remoteStart === null) this.rec.remoteStart = e.data.at;
      this.rec.remote.push(e.data.pcm);
    };
  }

  onPlaying() {
    this.playing = true;
    if (this.speechEndAt !== null) {
      this.emit('latency', { source: 'page', ms: performance.now() - this.speechEndAt });
      this.speechEndAt = null;
    }
  }

  flushPlayback(id) {
    if (this.playback) this.playback.port.postMessage({ type: 'clear', id });
    else if (id !== undefined) this.sendControl({ type: 'cleared', id }); // nothing buffered here
    if (this.remoteAudio) this.remoteAudio.muted = true;
    this.playing = false;
  }

  // ---- control messages (same on both transports)

  onControl(text) {
    let m;
    try { m = JSON.parse(text); } catch { return; }
    switch (m.type) {
      case 'ready': this.ready = true; this.callId = m.call_id; this.emit('state', 'live'); break;
      case 'transcript': this.emit('transcript', m); break;
      case 'partial': this.emit('partial', m.text); break;
      case 'speaking': this.emit('hearing', !!m.speaking); break;
      case 'heard': this.emit('heard', m); break;
      case 'state':
        this.agentState = m.state;
        if (m.state !== 'speaking') this.resumeAgentAudio();
        this.emit('agentState', m.state);
        break;
      case 'latency': this.emit('latency', { source: 'server', ms: m.ms }); break;
      case 'mark': this.playback?.port.postMessage({ type: 'mark', name: m.name }); break;
      case 'clear': this.stats.serverClears++; this.flushPlayback(m.id); this.resumeAgentAudio(); break;
      case 'hold': this.held = !!m.held; this.emit('state', this.held ? 'hold' : 'resumed'); break;
      case 'error':
        console.warn('callport:', m.message);
        if (m.kind !== 'call') break; // a complaint about one of our messages: the call goes on
        this.serverError = m.message || 'error';
        this.emit('error', this.serverError);
        break;
      case 'bye': this.byeReason = m.reason || 'ended'; this.hangup(false, this.byeReason); break;
      default: break;
    }
  }

  resumeAgentAudio() {
    this.dropAgentAudio = false;
    if (this.remoteAudio) this.remoteAudio.muted = false;
  }

  // ---- WebSocket transport

  connectWs(token) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}${this.config.ws}?token=${encodeURIComponent(token.token)}`;
    return new Promise((resolve, reject) => {
      const ws = this.bearer ? new WebSocket(url, ['callport', `callport.bearer.${this.bearer}`]) : new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let opened = false;
      ws.onopen = async () => {
        opened = true;
        await this.setupPlayback();
        ws.send(JSON.stringify({ type: 'start', sample_rate: 16000, gated: this.gate, client: navigator.userAgent }));
        resolve();
      };
      ws.onmessage = (e) => {
        if (typeof e.data === 'string') { this.onControl(e.data); return; }
        this.stats.framesReceived++;
        if (!this.dropAgentAudio) this.playback.port.postMessage({ type: 'audio', pcm: new Int16Array(e.data) });
      };
      ws.onerror = () => { if (!opened) reject(new CallError('unreachable', 'Cannot open the call connection to the server.')); };
      ws.onclose = (e) => {
        if (!opened && e.code === 1013) { reject(new CallError('busy', BUSY_MESSAGE)); return; }
        if (!opened) { reject(new CallError('unreachable', 'The server closed the call connection.')); return; }
        this.hangup(false, this.byeReason || (e.code === 1000 ? 'ended' : `connection closed (${e.code})`));
      };
    });
  }

  // ---- WebRTC transport

  async connectRtc(token) {
    const pc = new RTCPeerConnection({ iceServers: token.ice_servers || [] });
    this.pc = pc;
    const [track] = this.stream.getAudioTracks();
    pc.addTransceiver(track, { direction: 'sendrecv' });
    this.dc = pc.createDataChannel('control');
    this.dc.onmessage = (e) => this.onControl(e.data);
    this.remoteAudio = document.getElementById('remote') || new Audio();
    pc.ontrack = (e) => {
      const remote = e.streams[0] || new MediaStream([e.track]);
      // Chromium only decodes a remote track that some element plays; the <audio> element is
      // also the standard echo-cancellation reference.
      this.remoteAudio.srcObject = remote;
      if (this.speakerId && typeof this.remoteAudio.setSinkId === 'function') this.remoteAudio.setSinkId(this.speakerId).catch(() => {});
      this.remoteAudio.play().catch(() => {});
      this.remoteSource = this.ctx.createMediaStreamSource(remote);
      if (this.record) this.tap(this.remoteSource);
    };
    pc.onconnectionstatechange = () => {
      if (['failed', 'closed'].includes(pc.connectionState)) this.hangup(false, `WebRTC ${pc.connectionState}`);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') { resolve(); return; }
      const timer = setTimeout(resolve, ICE_WAIT_MS);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
      });
    });
    let res;
    try {
      res = await fetch(this.config.offer, {
        method: 'POST', headers: this.headers(), credentials: this.bearer ? 'omit' : 'same-origin',
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: 'offer', token: token.token }),
      });
    } catch {
      throw new CallError('unreachable', 'Cannot reach the callport server.');
    }
    if (res.status === 503) throw new CallError('busy', BUSY_MESSAGE);
    if (!res.ok) throw new CallError('refused', `The server refused the WebRTC call (HTTP ${res.status}).`);
    await pc.setRemoteDescription(await res.json());
  }

  // ---- end

  async hangup(local = true, reason = 'ended') {
    if (this.ended) return;
    this.ended = true;
    if (local) this.sendControl({ type: 'hangup' });
    try { this.vad?.pause(); this.vad?.destroy?.(); } catch { /* already gone */ }
    this.ws?.close(1000);
    setTimeout(() => this.pc?.close(), local ? 100 : 0);
    this.stream?.getTracks().forEach((t) => t.stop());
    if (this.remoteAudio) this.remoteAudio.srcObject = null;
    await this.ctx?.close().catch(() => {});
    // A crash, a lost connection or a server error is a failure, not a normal hang-up.
    const error = !local && (ERROR_REASONS.test(String(reason)) || !!this.serverError);
    this.emit('ended', { reason, error, message: this.serverError });
  }

  // For tests and the bench: recordings as base64 PCM16 at 16 kHz, aligned by context frame.
  dump() {
    const join = (parts) => {
      const n = parts.reduce((a, p) => a + p.length, 0);
      const all = new Int16Array(n);
      let o = 0;
      for (const p of parts) { all.set(p, o); o += p.length; }
      let s = '';
      const bytes = new Uint8Array(all.buffer);
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    };
    return {
      rate: this.ctx ? this.ctx.sampleRate : 0,
      mic: join(this.rec.mic), micStart: this.rec.micStart,
      remote: join(this.rec.remote), remoteStart: this.rec.remoteStart,
    };
  }
}

// At capacity (server.max_conversations): the token, offer or socket is refused with 503/1013.
export const BUSY_MESSAGE = 'All lines are busy right now. Please call again later.';

export class CallError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}
