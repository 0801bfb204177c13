// The widget's grant popup, on callport's own origin: the signed-in user lets one host site
// (config.host_origin, which the server checked against browser.allowed_origins) call as them.
// The grant goes to the widget's iframe (this popup's opener) on callport's origin only.
const config = JSON.parse(document.getElementById('callport-config').textContent);
const $ = (id) => document.getElementById(id);
const here = `${location.pathname}${location.search}`;

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

if (!config.user) {
  $('ask').textContent = `Sign in to callport, then come back here to let ${config.host_origin} call as you.`;
  $('signin').href = `${config.login}?next=${encodeURIComponent(here)}`;
  $('signin').hidden = false;
} else if (!window.opener) {
  fail('Open this from the call widget on the site you want to call from.');
} else {
  $('ask').textContent = `Let ${config.host_origin} start calls as ${config.user}? You can revoke it with "callport tokens".`;
  $('allow').hidden = false;
  $('allow').addEventListener('click', async () => {
    $('allow').disabled = true;
    const res = await fetch(`${config.embed_path}/grant`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, credentials: 'same-origin',
      body: JSON.stringify({ host: config.host_origin }),
    }).catch(() => null);
    if (!res || !res.ok) {
      const body = res ? await res.json().catch(() => ({})) : {};
      fail(body.error || 'Cannot reach the callport server.');
      $('allow').disabled = false;
      return;
    }
    const grant = await res.json();
    window.opener.postMessage({ callportGrant: grant }, location.origin);
    window.close();
  });
}
