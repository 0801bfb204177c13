/* callport's call widget: one script tag on any site listed in browser.allowed_origins.
 *
 *   <script src="https://callport.example/browser/static/widget.js"
 *           data-callport="https://callport.example"></script>
 *
 * It puts a call button on the page; the button opens a small panel: an iframe of callport's
 * page (callport's origin, so the microphone, the call and its credentials stay there). The
 * host page never sees a token. A small API, window.Callport:
 *
 *   Callport.open() / .close()      show or hide the panel
 *   Callport.start()                start a call (browsers may ask for a click in the panel)
 *   Callport.hangup()
 *   Callport.mute(on = true)        mute or unmute the microphone
 *   Callport.press(digit)           a keypad digit (DTMF) to the agent
 *   Callport.on(name, fn)           events: ready, state, caption, reply, error
 *
 * Messages from the iframe are accepted only from the callport origin; commands are sent to
 * that origin only. Optional attributes: data-embed-path (default /browser/embed),
 * data-label (the button's text), data-open="true" (open the panel at once).
 */
(function () {
  'use strict';
  if (window.Callport && window.Callport.version) return;
  var script = document.currentScript;
  var base = ((script && script.getAttribute('data-callport')) || new URL(script.src).origin).replace(/\/+$/, '');
  var origin = new URL(base).origin;
  var path = (script && script.getAttribute('data-embed-path')) || '/browser/embed';
  var label = (script && script.getAttribute('data-label')) || 'Call us';
  var handlers = {};
  var queue = [];
  var ready = false;

  var css = document.createElement('style');
  css.textContent =
    '.callport-launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;' +
    'border:0;border-radius:999px;padding:12px 20px;font:600 15px system-ui,sans-serif;color:#fff;background:#2fbf71;' +
    'box-shadow:0 8px 24px rgba(0,0,0,.25);cursor:pointer}' +
    '.callport-launch svg{width:18px;height:18px;fill:currentColor}' +
    '.callport-panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(380px,calc(100vw - 40px));' +
    'height:min(600px,calc(100vh - 110px));border:0;border-radius:16px;box-shadow:0 16px 48px rgba(0,0,0,.35);background:#0f1420}' +
    '.callport-panel[hidden]{display:none}';
  document.head.appendChild(css);

  var button = document.createElement('button');
  button.type = 'button';
  button.className = 'callport-launch';
  button.setAttribute('aria-expanded', 'false');
  button.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z"/></svg>';
  button.appendChild(document.createTextNode(label));

  var frame = document.createElement('iframe');
  frame.className = 'callport-panel';
  frame.title = label;
  frame.hidden = true;
  frame.allow = 'microphone; autoplay; speaker-selection';
  frame.src = base + path + '?host=' + encodeURIComponent(location.origin);

  function send(message) {
    message.callport = 1;
    if (ready) frame.contentWindow.postMessage(message, origin);
    else queue.push(message);
  }
  function fire(name, detail) {
    (handlers[name] || []).slice().forEach(function (fn) {
      try { fn(detail); } catch (err) { setTimeout(function () { throw err; }); }
    });
  }
  function open() { frame.hidden = false; button.setAttribute('aria-expanded', 'true'); }
  function close() { frame.hidden = true; button.setAttribute('aria-expanded', 'false'); }

  window.addEventListener('message', function (e) {
    if (e.origin !== origin || e.source !== frame.contentWindow) return;
    var m = e.data || {};
    if (!m.callport || typeof m.event !== 'string') return;
    if (m.event === 'ready') {
      ready = true;
      queue.splice(0).forEach(send);
    }
    fire(m.event, m.detail);
  });
  button.addEventListener('click', function () { if (frame.hidden) open(); else close(); });

  window.Callport = {
    version: 1,
    origin: origin,
    frame: frame,
    button: button,
    open: open,
    close: close,
    start: function () { open(); send({ command: 'start' }); },
    hangup: function () { send({ command: 'hangup' }); },
    mute: function (on) { send({ command: 'mute', on: on !== false }); },
    press: function (digit) { send({ command: 'press', digit: String(digit) }); },
    on: function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); return this; },
    off: function (name, fn) { handlers[name] = (handlers[name] || []).filter(function (f) { return f !== fn; }); return this; },
  };
  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(button);
    if (script && script.getAttribute('data-open') === 'true') open();
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
