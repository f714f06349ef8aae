// Moderation queue: keyboard shortcuts, focus after each decision, bulk selection.
// Progressive enhancement only: every action is a plain form that works without
// this file (and without htmx). No inline scripts: a strict CSP comes later.
(() => {
  const root = document.getElementById("moderation");
  if (!root) return;

  if (window.htmx) {
    // Nothing inline, so a Content-Security-Policy without 'unsafe-inline' holds.
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
    htmx.config.allowScriptTags = false;
    // A 400 carries a message for the organiser: show it like any answer.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "400", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  const alerts = document.getElementById("mod-alerts");
  const help = document.getElementById("mod-help");
  const helpMore = document.getElementById("mod-help-more");
  const selectAll = document.getElementById("select-all");
  const selectedCount = document.getElementById("mod-selected-count");
  const cards = () => Array.from(root.querySelectorAll(".mod-card"));
  const cardOf = (element) => (element && element.closest ? element.closest(".mod-card") : null);

  function say(text) {
    alerts.replaceChildren();
    const note = document.createElement("div");
    note.className = "alert alert-warning py-2 mb-2";
    note.textContent = text;
    alerts.append(note);
  }

  function focusCard(card) {
    if (!card) return;
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = cards();
    if (!all.length) return;
    const index = all.indexOf(cardOf(document.activeElement));
    const next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(index + step, 0), all.length - 1);
    focusCard(all[next]);
  }

  function press(card, key) {
    if (!card || card.classList.contains("is-busy")) return;
    const button = card.querySelector(`button[data-shortcut="${key}"]`);
    if (!button) {
      const names = { p: "Publish", r: "Reject", h: "Hide", u: "Restore" };
      const noun = card.dataset.kind === "story" ? "story" : "pledge";
      say(`${names[key]} is not possible for a ${noun} that is ${card.dataset.status}.`);
      return;
    }
    if (key === "r") {
      const reason = card.querySelector("select.mod-reason");
      if (reason) reason.focus();
      return;
    }
    button.click();
  }

  function updateSelection() {
    const boxes = root.querySelectorAll(".mod-select");
    const checked = root.querySelectorAll(".mod-select:checked").length;
    if (selectAll) selectAll.checked = boxes.length > 0 && checked === boxes.length;
    if (selectedCount) selectedCount.textContent = checked ? `${checked} selected` : "";
  }

  root.addEventListener("change", (event) => {
    if (event.target === selectAll) {
      root.querySelectorAll(".mod-select").forEach((box) => { box.checked = selectAll.checked; });
    }
    if (event.target === selectAll || event.target.classList.contains("mod-select")) updateSelection();
  });

  // Where focus goes once the answer is in: the card that took the decided one's place.
  let after = null;
  root.addEventListener("htmx:beforeRequest", (event) => {
    const card = cardOf(event.detail.elt);
    const all = cards();
    const current = card || cardOf(document.activeElement);
    after = { id: current ? current.id : null, index: Math.max(all.indexOf(current), 0), bulk: !card };
    if (card) card.classList.add("is-busy");
  });
  root.addEventListener("htmx:afterRequest", (event) => {
    const card = cardOf(event.detail.elt);
    if (card) card.classList.remove("is-busy");
  });
  root.addEventListener("htmx:afterSettle", (event) => {
    if (!after || event.detail.target !== alerts) return;
    const { id, index, bulk } = after;
    after = null;
    if (bulk) {
      root.querySelectorAll(".mod-select:checked").forEach((box) => { box.checked = false; });
      updateSelection();
    }
    const all = cards();
    if (!all.length) {
      const bulkForm = document.getElementById("bulk-form");
      if (bulkForm) bulkForm.hidden = true;
      // More are waiting beyond this page: bring the next ones up, so a long
      // queue is cleared with the keyboard alone (focus lands on the first card).
      const counts = document.getElementById("mod-counts");
      if (counts && Number(counts.dataset.total) > 0 && !bulk) {
        window.location.reload();
        return;
      }
      const cleared = document.getElementById("mod-cleared");
      if (cleared) {
        cleared.hidden = false;
        cleared.focus();
      }
      return;
    }
    const kept = id && document.getElementById(id);
    if (kept && !bulk) {
      // Still in this queue (hidden, or changed by someone else): go on to the next one.
      focusCard(all[Math.min(all.indexOf(kept) + 1, all.length - 1)]);
    } else {
      focusCard(all[Math.min(index, all.length - 1)]);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    // Enter on a reason list rejects with that reason (a select never submits by itself).
    if (event.key === "Enter" && target.matches && target.matches("select.mod-reason")) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && cardOf(target) && target !== cardOf(target)) {
      focusCard(cardOf(target));
      return;
    }
    const typing =
      target.isContentEditable ||
      (target.matches && target.matches("textarea, select, input:not([type=checkbox]):not([type=radio])"));
    if (typing) return;
    const card = cardOf(target);
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "p": press(card, "p"); break;
      case "r": press(card, "r"); break;
      case "h": press(card, "h"); break;
      case "u": press(card, "u"); break;
      case "x": {
        const box = card && card.querySelector(".mod-select");
        if (!box) return;
        box.checked = !box.checked;
        updateSelection();
        break;
      }
      case "?":
        helpMore.hidden = !helpMore.hidden;
        help.classList.toggle("is-open", !helpMore.hidden);
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  // What came into the queue since the page was opened, asked for every few seconds and
  // said in a polite live region. Only the line changes: the cards, and the one being
  // worked on, stay as they are until the organiser follows its link.
  const news = document.getElementById("mod-news");
  if (news && news.dataset.url && window.fetch) {
    const every = Math.max(Number(news.dataset.every) || 20, 1) * 1000;
    let shown = "";
    let paused = false; // the tab was hidden when it was time to ask
    let stopped = false;
    const show = (html) => {
      // The same words again are not news: a live region re-announces any change.
      if (html === shown) return;
      shown = html;
      news.innerHTML = html;
    };
    const later = (ms) => { setTimeout(ask, ms); };
    const stop = (html) => { stopped = true; show(html); };
    async function ask() {
      if (document.hidden) { paused = true; return; } // asked again when the tab is looked at
      let response;
      try {
        // A signed-out organiser is sent to log in: seen as a redirect, not followed.
        response = await fetch(news.dataset.url, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
      } catch (error) {
        later(every * 3); // offline for a moment: ask again, less often
        return;
      }
      if (response.type === "opaqueredirect" || response.status === 403) {
        stop('<div class="alert alert-warning py-2 mb-2">You are signed out, so new pledges and reports are not shown here. <a class="alert-link" href="">Reload to sign in</a>.</div>');
      } else if (response.status === 400) {
        stop(await response.text()); // the page is too old to say what is new: it says so
      } else if (response.ok) {
        show((await response.text()).trim());
        later(every);
      } else {
        later(every * 3);
      }
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && paused && !stopped) {
        paused = false;
        ask();
      }
    });
    later(every);
  }

  // Start where the work is: the first pledge, unless the page opened elsewhere.
  if (document.activeElement === document.body && !location.hash) focusCard(cards()[0]);
})();
