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
    const percent = section.querySelector("[data-counter-percent]");
    if (percent && data.target) percent.textContent = Math.min(100, Math.round((100 * data.total) / data.target));
  };

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
