// The sign-in page: POST /login as JSON, then on to the Task Manager page.
const config = JSON.parse(document.getElementById('callport-config').textContent);
const $ = (id) => document.getElementById(id);
const form = $('login');
const error = $('error');

function showError(message) {
  error.textContent = message;
  error.hidden = !message;
}

if (config.notice) showError(config.notice);
if (config.name) {
  document.querySelector('h1').textContent = config.name;
  document.title = `${config.name} · Sign in`;
}
if (config.tagline) document.querySelector('.sub').textContent = config.tagline;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('');
  $('submit').disabled = true;
  try {
    const res = await fetch(config.login, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: $('name').value.trim(), password: $('password').value }),
      credentials: 'same-origin',
    });
    if (res.ok) {
      // ?next= may only name a path on this server (the widget's connect popup comes back).
      const next = new URLSearchParams(location.search).get('next') || '';
      location.replace(/^\/(?![\/\\])/.test(next) ? next : config.home);
      return;
    }
    const body = await res.json().catch(() => ({}));
    showError(body.error || `Sign-in failed (HTTP ${res.status}).`);
    $('password').select();
  } catch {
    showError('Cannot reach the callport server. Is it running?');
  } finally {
    $('submit').disabled = false;
  }
});
