// Progressive enhancement only: every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copyTarget);
  if (!input) return;
  input.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(input.value).then(done, () => document.execCommand("copy") && done());
  } else if (document.execCommand("copy")) {
    done();
  }
});

// Stop a double click on a form's submit button sending the form twice; the
// server also refuses duplicates (pledges.services.pledge_create).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.submitted === "true") {
    event.preventDefault();
    return;
  }
  form.dataset.submitted = "true";
  // The page may come back from the back-forward cache: allow submitting again.
  window.addEventListener("pageshow", () => { form.dataset.submitted = "false"; }, { once: true });
});

// Live counters: poll the cached counters endpoint (cheap: a tiny JSON with an
// ETag) and update the numbers in place; the page is complete without this.
(() => {
  const section = document.querySelector("[data-live-counters]");
  if (!section || !window.fetch) return;
  const url = section.dataset.liveCounters;
  const format = (n) => Number(n).toLocaleString("en-GB");
  let etag = null;

  const apply = (data) => {
    const values = { total: data.total, integration: data.integration };
    for (const [slug, n] of Object.entries(data.by_sector || {})) values[`sector:${slug}`] = n;
    for (const [outcome, n] of Object.entries(data.by_outcome || {})) values[`outcome:${outcome}`] = n;
    for (const [key, n] of Object.entries(values)) {
      if (n === undefined) continue;
      // Counters may sit outside the section too (the campaign page's promises kept).
      document.querySelectorAll(`[data-counter="${key}"]`).forEach((el) => {
        if (el.textContent !== format(n)) el.textContent = format(n);
      });
      document.querySelectorAll(`[data-counter-noun="${key}"]`).forEach((noun) => {
        noun.textContent = n === 1 ? noun.dataset.one : noun.dataset.many;
      });
      // A sentence for none ("no promises reported kept yet") and one for some.
      document.querySelectorAll(`[data-counter-zero="${key}"]`).forEach((el) => { el.hidden = n !== 0; });
      document.querySelectorAll(`[data-counter-some="${key}"]`).forEach((el) => { el.hidden = n === 0; });
    }
    const progress = section.querySelector("[data-counter-progress]");
    if (progress) progress.value = data.total;
    goal(data);
    lastHour(data.total);
  };

  // The bar runs to the next milestone until the total passes the last one below the
  // target, then to the target. The list is the server's (pledges.selectors.campaign_milestones,
  // data-milestones), so the two never disagree; it was made for the target the page was drawn
  // with, hence the check against the target the counters report now.
  const goal = (data) => {
    const progress = section.querySelector("[data-counter-progress]");
    const text = section.querySelector("[data-counter-goal]");
    if (!progress || !text || !data.target) return;
    const milestones = (progress.dataset.milestones || "").split(" ").filter(Boolean).map(Number);
    const milestone = milestones.find((m) => data.total < m && m < data.target);
    progress.max = milestone || data.target;
    const words = milestone
      ? `Next milestone: ${format(milestone)} pledges, on the way to ${format(data.target)}`
      : `${Math.min(100, Math.round((100 * data.total) / data.target))}% of the target of ${format(data.target)}`;
    if (text.textContent !== words) text.textContent = words;
  };

  // "+N in the last hour" was counted when the page was made; what arrives since is added.
  const hour = section.querySelector("[data-last-hour]");
  let seen = null;
  const lastHour = (total) => {
    if (!hour) return;
    if (seen !== null && total > seen) {
      const n = Number(hour.dataset.lastHour) + total - seen;
      hour.dataset.lastHour = n;
      hour.querySelector("[data-last-hour-count]").textContent = format(n);
      hour.hidden = false;
    }
    seen = total;
  };

  // A gentle sign that the total moved (CSS: none under prefers-reduced-motion).
  const totalEl = section.querySelector('[data-counter="total"]');
  if (totalEl && window.MutationObserver) {
    new MutationObserver(() => {
      totalEl.classList.remove("cd-moved");
      void totalEl.offsetWidth;
      totalEl.classList.add("cd-moved");
    }).observe(totalEl, { childList: true, characterData: true, subtree: true });
  }

  const poll = async () => {
    if (document.visibilityState === "visible") {
      try {
        const response = await fetch(url, { headers: etag ? { "If-None-Match": etag } : {} });
        if (response.ok) {
          etag = response.headers.get("ETag");
          apply(await response.json());
        }
      } catch {
        // Offline or the server is busy: keep the numbers shown and try again.
      }
    }
    window.setTimeout(poll, 3000);
  };
  window.setTimeout(poll, 3000);
})();

// A form sent back with errors: the summary of what to fix takes the focus, so
// keyboard and screen-reader users start there; its links lead to each field.
document.getElementById("form-errors")?.focus();

// A story's character count as the person types. Without this file the hint under the
// box says the limit, and the server refuses a longer story saying by how much.
document.querySelectorAll("textarea[data-char-limit]").forEach((box) => {
  const limit = Number(box.dataset.charLimit);
  const out = document.getElementById(box.dataset.charCount);
  if (!out) return;
  // Counted as the server counts: characters, not UTF-16 units, without the spaces around.
  const update = () => {
    const used = Array.from(box.value.trim()).length;
    const left = limit - used;
    out.textContent = left >= 0
      ? `${left} character${left === 1 ? "" : "s"} left of ${limit}.`
      : `${-left} character${left === -1 ? "" : "s"} too many: please shorten it to ${limit}.`;
    out.classList.toggle("text-danger", left < 0);
  };
  box.addEventListener("input", update);
  update();
});

// Example pledges on the form become buttons that put their words in the box (and
// the character count follows). Without this file they are plain examples to read.
document.querySelectorAll("[data-pledge-example]").forEach((item) => {
  const box = document.getElementById(item.dataset.pledgeExample);
  if (!box) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-link btn-sm p-0 text-start cd-example";
  button.textContent = item.textContent;
  button.setAttribute("aria-describedby", "examples-hint");
  button.addEventListener("click", () => {
    box.value = item.textContent;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.focus();
  });
  item.replaceChildren(button);
});

// The organisation box becomes a combobox (ARIA 1.2, list autocomplete): what the
// directory holds for what is typed, chosen with the arrow keys and Enter, a tap or a
// click, and kept in the hidden "org" field. Without this file the box takes a name,
// and "Find your organisation" lists the directory's matches as radio buttons.
(() => {
  const input = document.querySelector("input[data-org-suggest]");
  const choice = input && document.getElementById(input.dataset.orgChoice);
  if (!input || !choice || choice.type !== "hidden" || !window.fetch) return;
  const url = input.dataset.orgSuggest;
  const list = document.createElement("ul");
  list.id = `${input.id}-listbox`;
  list.className = "cd-combobox-list list-unstyled";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Organisations in our directory");
  list.hidden = true;
  const status = document.createElement("div");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  input.parentElement.classList.add("cd-combobox");
  input.after(list, status);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("autocomplete", "off");

  let found = [];
  let active = -1;
  let chosen = choice.value ? input.value : null;
  let timer = 0;
  let pending = null;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const open = () => {
    if (!found.length) return;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  };
  const highlight = (index) => {
    active = index;
    list.querySelectorAll("[role=option]").forEach((option, i) => {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
      if (i === index) {
        input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    });
  };
  const choose = (index) => {
    const organisation = found[index];
    if (!organisation) return;
    input.value = organisation.name;
    choice.value = organisation.slug;
    chosen = organisation.name;
    close();
    status.textContent = `${organisation.name} chosen.`;
  };
  const show = (results) => {
    found = results;
    list.replaceChildren(
      ...results.map((organisation, i) => {
        const option = document.createElement("li");
        option.id = `${list.id}-${i}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = organisation.name;
        return option;
      }),
    );
    active = -1;
    input.removeAttribute("aria-activedescendant");
    if (results.length) {
      open();
      status.textContent = `${results.length} organisation${results.length === 1 ? "" : "s"} found: use the arrow keys or tap to choose.`;
    } else {
      close();
      status.textContent = "No organisation in our directory starts like that: type its full name.";
    }
  };
  const search = async () => {
    const query = input.value.trim();
    if (query.length < 2) {
      found = [];
      close();
      return;
    }
    pending?.abort();
    pending = new AbortController();
    try {
      const response = await fetch(`${url}?q=${encodeURIComponent(query)}`, { signal: pending.signal });
      // Refused (too many searches) or offline: the box still takes a typed name.
      const data = response.ok ? await response.json() : { results: [] };
      if (input.value.trim() === query && document.activeElement === input) show(data.results || []);
    } catch {
      // Aborted by the next keystroke, or the network: nothing to show.
    }
  };

  input.addEventListener("input", () => {
    // A name changed after choosing is a different name: the choice goes.
    if (input.value !== chosen) {
      choice.value = "";
      chosen = null;
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 200);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!found.length) return;
      event.preventDefault();
      if (list.hidden) open();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(active < 0 && step < 0 ? found.length - 1 : (active + step + found.length) % found.length);
    } else if (event.key === "Enter" && !list.hidden) {
      // Enter chooses the highlighted organisation (or just closes the list); it sends the
      // form only when the list is closed.
      event.preventDefault();
      if (active >= 0) choose(active);
      else close();
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", close);
  // Keep the focus in the box while an option is pressed, so the list is still there for the click.
  list.addEventListener("mousedown", (event) => event.preventDefault());
  list.addEventListener("click", (event) => {
    const option = event.target.closest("[role=option]");
    if (option) choose(Array.from(list.children).indexOf(option));
  });
})();

// The phone's own share sheet, where the browser has one (navigator.share): the button
// appears only then. The plain links beside it work everywhere, without this file.
document.querySelectorAll("[data-share-button]").forEach((button) => {
  if (typeof navigator.share !== "function") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const data = { title: button.dataset.shareTitle, text: button.dataset.shareText, url: button.dataset.shareUrl };
    try {
      await navigator.share(data);
    } catch {
      // Closed without sharing, or refused: the plain links are still there.
    }
  });
});

// The wall's filters fold behind their summary button on a phone, unless a filter is on
// (the visitor should see what narrows the wall). Wide screens, and pages without this
// file, show them open.
document.querySelectorAll("details[data-fold-narrow]").forEach((fold) => {
  if (!("foldKeepOpen" in fold.dataset) && window.matchMedia("(max-width: 767.98px)").matches) {
    fold.open = false;
  }
});
