// The organisers' dashboard puts fresh figures in place of its own every few seconds
// (the page's data-every), without a reload. Progressive enhancement only: without this
// file the page says when it was counted and has a link to refresh it. No inline script,
// so the site's Content-Security-Policy holds.
(() => {
  const day = document.getElementById("dash-day");
  if (!day || !day.dataset.url || !window.fetch) return;
  const every = Math.max(Number(day.dataset.every) || 30, 1) * 1000;
  let shown = day.innerHTML.trim();
  let paused = false; // the tab was hidden when it was time to ask
  let stopped = false;

  const later = (ms) => { setTimeout(ask, ms); };

  function stop(text) {
    stopped = true;
    const note = document.createElement("div");
    note.className = "alert alert-warning py-2 mb-2";
    note.setAttribute("role", "status");
    note.textContent = text;
    day.prepend(note);
  }

  function show(html) {
    if (html === shown) return;
    shown = html;
    // What the organiser was looking at stays put: the tables' scroll and the focus.
    const scrolled = Array.from(day.querySelectorAll(".mod-dash-scroll[id]"), (el) => [el.id, el.scrollTop]);
    const focused = day.contains(document.activeElement) ? document.activeElement.id : "";
    day.innerHTML = html;
    for (const [id, top] of scrolled) {
      const el = document.getElementById(id);
      if (el) el.scrollTop = top;
    }
    if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus({ preventScroll: true });
    }
  }

  async function ask() {
    if (stopped) return;
    if (document.hidden) { paused = true; return; } // asked again when the tab is looked at
    let response;
    try {
      // A signed-out organiser is sent to log in: seen as a redirect, not followed.
      response = await fetch(day.dataset.url, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
    } catch (error) {
      later(every * 2); // offline for a moment: ask again, less often
      return;
    }
    if (response.type === "opaqueredirect" || response.status === 403) {
      stop("You are signed out, so these figures no longer refresh. Use Refresh to sign in again.");
    } else if (response.ok) {
      show((await response.text()).trim());
      later(every);
    } else {
      later(every * 2);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && paused && !stopped) {
      paused = false;
      ask();
    }
  });
  later(every);
})();
