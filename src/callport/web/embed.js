// The page inside the widget's iframe (callport's origin, framed by an allowed host page).
//
// Credentials: a cross-site iframe never gets callport's SameSite=Strict session cookie, so the
// iframe holds a session granted to this host origin. "Connect to callport" opens a popup on
// callport's origin (top level: the cookie flows, or the user signs in there); it asks the
// user, mints the grant and posts it back to this frame (its opener), with callport's own
// origin as the target so no other window can read it. The grant lives in this frame's
// localStorage where the browser allows it, partitioned by top-level site: good on this host
// only (where third-party storage is blocked, it lasts as long as the page).
//
// The host page's API (widget.js) talks to this frame with postMessage. Only messages from
// the configured host origin (checked against browser.allowed_origins by the server) and from
// the parent window are obeyed; events go back to that origin only, never to "*".
const KEY = 'callport.grant';
// Browsers that block third-party storage throw here: then the grant lasts as long as the page.
const store = {
  get() { try { return localStorage.getItem(KEY) || ''; } catch { return ''; } },
  set(v) { try { localStorage.setItem(KEY, v); } catch { /* kept in memory only */ } },
  clear() { try { store.clear(); } catch { /* nothing stored */ } },
};

export function connectEmbed({ config, page, words, start, hangup, mute, press, show, ui }) {
  const host = config.host_origin;
  const allowed = (config.allowed_origins || []).map((o) => o.replace(/\/$/, '').toLowerCase());
  const trusted = allowed.includes('*') || allowed.includes(host.toLowerCase());
  const post = (event, detail) => {
    if (trusted && window.parent !== window) window.parent.postMessage({ callport: 1, event, detail }, host);
  };
  page.listeners.push(post);
  page.bearer = store.get();

  function showConnect(on) {
    ui.connect.hidden = !on;
    ui.call.hidden = on;
    if (on) ui.agentState.textContent = words.connectHint;
  }
  showConnect(!page.bearer);

  ui.connect.addEventListener('click', () => {
    const url = `${config.embed_path}/connect?host=${encodeURIComponent(host)}`;
    const popup = window.open(url, 'callport-connect', 'popup,width=460,height=560');
    if (!popup) show('Allow pop-ups for this site to connect to callport.');
  });

  window.addEventListener('message', (e) => {
    // The grant: only from a window on callport's own origin (the connect popup).
    if (e.origin === location.origin && e.data && e.data.callportGrant) {
      page.bearer = String(e.data.callportGrant.session || '');
      store.set(page.bearer);
      page.user = e.data.callportGrant.user || null;
      showConnect(false);
      ui.agentState.textContent = words.idleState;
      post('state', { state: 'connected', user: page.user });
      return;
    }
    if (!trusted || e.origin.toLowerCase() !== host.toLowerCase() || e.source !== window.parent) return;
    const m = e.data || {};
    if (!m.callport) return;
    switch (m.command) {
      case 'start': start(); break;
      case 'hangup': hangup(); break;
      case 'mute': mute(m.on !== false); break;
      case 'press': if (/^[0-9*#A-D]$/.test(String(m.digit))) press(String(m.digit)); break;
      default: break;
    }
  });
  post('ready', { connected: !!page.bearer });

  return {
    needGrant() { showConnect(true); post('error', { message: 'not connected: press "Connect to callport"' }); },
    signedOut() {
      store.clear();
      page.bearer = '';
      showConnect(true);
      post('error', { message: 'the grant for this site ended: connect again' });
    },
  };
}
