// callport AudioWorklet processors: capture (context rate -> 16 kHz PCM16, 20 ms frames)
// and playback (16 kHz PCM16 -> context rate, a ring buffer that flushes at once, marks).
// The context's sample rate is whatever the browser chose (44.1 kHz headless, 48 kHz on
// most hardware); both directions resample with a windowed-sinc filter that also removes
// aliases (capture) and images (playback).

const WIRE_RATE = 16000;
const FRAME = 320; // 20 ms at 16 kHz

// Band-limited fractional resampler: y(t) = sum_k x[k] h(t - k), h = windowed sinc with its
// cutoff at 0.45 * min(in, out) rate, tabulated at PHASES points per input sample.
class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate; // input samples per output sample
    const fc = (0.45 * Math.min(inRate, outRate)) / inRate; // cycles per input sample
    this.half = Math.ceil(6 / (2 * fc)); // ~6 zero crossings each side
    this.phases = 64;
    const n = this.half * this.phases;
    this.table = new Float32Array(n + 2);
    for (let i = 0; i <= n + 1; i++) {
      const x = i / this.phases;
      const sinc = x === 0 ? 1 : Math.sin(2 * Math.PI * fc * x) / (2 * Math.PI * fc * x);
      const w = x >= this.half ? 0 : 0.42 + 0.5 * Math.cos((Math.PI * x) / this.half)
        + 0.08 * Math.cos((2 * Math.PI * x) / this.half); // Blackman
      this.table[i] = 2 * fc * sinc * w;
    }
    this.buf = new Float32Array(16384);
    this.len = 0;
    this.t = this.half; // next output position, in buffer samples
  }

  h(x) {
    const a = Math.abs(x) * this.phases;
    const i = Math.floor(a);
    if (i >= this.table.length - 1) return 0;
    const f = a - i;
    return this.table[i] * (1 - f) + this.table[i + 1] * f;
  }

  // Push input samples; calls emit(sample) for every output sample now computable.
  push(input, emit) {
    if (this.len + input.length > this.buf.length) {
      const drop = Math.max(0, Math.floor(this.t) - this.half);
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.t -= drop;
      if (this.len + input.length > this.buf.length) {
        const bigger = new Float32Array((this.len + input.length) * 2);
        bigger.set(this.buf.subarray(0, this.len));
        this.buf = bigger;
      }
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    while (this.t + this.half < this.len) {
      const c = Math.floor(this.t);
      let acc = 0;
      for (let k = c - this.half + 1; k <= c + this.half; k++) acc += this.buf[k] * this.h(this.t - k);
      emit(acc);
      this.t += this.step;
    }
  }

  reset() {
    this.len = 0;
    this.t = this.half;
  }
}

// Microphone (or any node) -> 20 ms PCM16 frames at 16 kHz, posted with the context frame
// at which the frame's first sample was captured and its RMS level.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.rs = new Resampler(sampleRate, WIRE_RATE);
    this.frame = new Int16Array(FRAME);
    this.n = 0;
    this.energy = 0;
    this.frameStart = 0;
    this.emit = (s) => {
      if (this.n === 0) this.frameStart = currentFrame;
      const v = Math.max(-1, Math.min(1, s));
      this.energy += v * v;
      this.frame[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.n === FRAME) {
        const level = Math.sqrt(this.energy / FRAME);
        this.port.postMessage({ pcm: this.frame, at: this.frameStart, level }, [this.frame.buffer]);
        this.frame = new Int16Array(FRAME);
        this.n = 0;
        this.energy = 0;
      }
    };
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.rs.push(ch, this.emit);
    return true;
  }
}
registerProcessor('callport-capture', CaptureProcessor);

// Agent audio: PCM16 16 kHz in, context-rate samples out of a ring buffer. 'clear' empties
// it at once (barge-in) and answers 'cleared' (with the clear's id) after every 'played' it
// posted before, so the server knows exactly which marks were heard. Marks are placed at the current write position and reported when
// playback passes them. Reports 'playing' when audio starts after silence and 'idle' when
// the buffer runs dry, for the latency readout and the speaking indicator.
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.rs = new Resampler(WIRE_RATE, sampleRate);
    this.ring = new Float32Array(sampleRate * 30);
    this.r = 0;
    this.w = 0;
    this.avail = 0;
    this.written = 0;
    this.read = 0;
    this.marks = [];
    this.prebuffer = Math.round(sampleRate * 0.06);
    this.started = false;
    this.underruns = 0;
    this.push = (s) => {
      if (this.avail >= this.ring.length) return; // full: drop (never block the wire)
      this.ring[this.w] = s;
      this.w = (this.w + 1) % this.ring.length;
      this.avail++;
      this.written++;
    };
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'audio') {
        const f = new Float32Array(m.pcm.length);
        for (let i = 0; i < f.length; i++) f[i] = m.pcm[i] / 0x8000;
        this.rs.push(f, this.push);
      } else if (m.type === 'mark') {
        this.marks.push({ name: m.name, at: this.written });
        this.firePassed();
      } else if (m.type === 'clear') {
        const dropped = this.marks.map((x) => x.name);
        this.marks = [];
        this.r = this.w = this.avail = 0;
        this.read = this.written = 0;
        this.rs.reset();
        if (this.started) this.port.postMessage({ type: 'idle', flushed: true, dropped });
        this.started = false;
        this.port.postMessage({ type: 'cleared', id: m.id, dropped });
      }
    };
  }

  firePassed() {
    while (this.marks.length && this.marks[0].at <= this.read) {
      this.port.postMessage({ type: 'played', name: this.marks.shift().name });
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    const tail = this.marks.length > 0 && this.marks[this.marks.length - 1].at >= this.written;
    if (!this.started && (this.avail >= this.prebuffer || (this.avail > 0 && tail))) {
      this.started = true;
      this.port.postMessage({ type: 'playing', frame: currentFrame });
    }
    let level = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      if (this.started && this.avail > 0) {
        s = this.ring[this.r];
        this.r = (this.r + 1) % this.ring.length;
        this.avail--;
        this.read++;
      }
      level += s * s;
      for (let c = 0; c < out.length; c++) out[c][i] = s;
    }
    if (this.started && this.avail === 0) {
      this.started = false;
      this.underruns++;
      this.firePassed();
      this.port.postMessage({ type: 'idle', flushed: false, dropped: [] });
    }
    this.firePassed();
    if (currentFrame % 2048 < n) this.port.postMessage({ type: 'level', level: Math.sqrt(level / n) });
    return true;
  }
}
registerProcessor('callport-playback', PlaybackProcessor);
