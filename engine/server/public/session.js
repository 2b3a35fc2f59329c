// The signed-in teacher and a log-out button, in <span id="signed-in"> (teacher sign-in with OpenID
// Connect: README "Deploying for a school"). Without sign-in configured (/auth/me is 404) it shows nothing.
(async () => {
  const el = document.getElementById('signed-in');
  if (!el) return;
  const res = await fetch('/auth/me', { credentials: 'same-origin' });
  if (res.status === 404) return;
  if (!res.ok) {
    const a = document.createElement('a');
    a.href = `/auth/login?next=${encodeURIComponent(location.pathname)}`;
    a.textContent = 'Sign in';
    a.style.color = 'inherit';
    el.replaceChildren(a);
    return;
  }
  const me = await res.json();
  const name = document.createElement('span');
  name.className = 'teacher';
  name.textContent = me.email ? `${me.teacher} (${me.email})` : me.teacher;
  const out = document.createElement('button');
  out.type = 'button';
  out.id = 'log-out';
  out.textContent = 'Log out';
  // The CSRF token goes in a header: the server refuses a POST with the session cookie but without it.
  out.onclick = async () => {
    await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': me.csrf } });
    location.href = '/';
  };
  el.replaceChildren(name, ' ', out);
})();
