// Live gallery: polls /api/events for events stored after the newest shown and adds them
// at the top.  Every field is set as text (textContent, attributes), never parsed as HTML.
(function () {
  "use strict";
  const main = document.getElementById("events");
  if (!main || main.dataset.live !== "1") return;  // older pages stay as they are
  let after = Number(main.dataset.after || 0);
  const every = Number(main.dataset.pollMs || 1000);
  const filter = new URLSearchParams();
  for (const key of ["device", "camera", "day", "since", "until", "view", "q", "person"]) {
    if (main.dataset[key]) filter.set(key, main.dataset[key]);
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function shot(src, width, alt, label) {
    const span = el("span", "shot");
    const img = el("img");
    img.src = src;
    img.width = width;
    img.alt = alt;
    span.append(img, el("span", "label", label));
    return span;
  }

  function card(e) {
    const a = el("a", "card new");
    a.href = e.url;
    a.dataset.id = e.id;
    a.dataset.device = e.device;
    const pair = el("span", "pair");
    pair.append(shot(e.mugshot, e.mugshot_width, "generated mugshot",
                     e.generator === "none" ? "Aligned crop (no generator)"
                       : e.generator === "frontalize" ? "Frontalized view (face mesh)" : "Generated mugshot"),
                shot(e.crop, e.crop_width, "camera crop", "Camera crop"));
    if (e.profile) pair.append(shot(e.profile, e.profile_width, "profile view", "Profile"));
    const caption = el("span", "caption");
    caption.append(el("span", "where", e.device + " / " + e.camera), el("time", "", e.best_seen),
                   el("span", "generator", "generator " + e.generator), el("span", "revision", "revision " + e.revision));
    a.append(pair, caption);
    return a;
  }

  async function poll() {
    try {
      const query = new URLSearchParams(filter);
      query.set("after", after);
      query.set("order", "oldest");  // everything since `after`, a page at a time, oldest first
      const response = await fetch("/api/events?" + query.toString(), {credentials: "same-origin"});
      if (response.ok) {
        const answer = await response.json();
        const events = answer.events;
        document.getElementById("total").textContent = answer.total;
        for (const e of events) {  // oldest first, each on top
          const old = main.querySelector('.card[data-device="' + CSS.escape(e.device) + '"][href="' + CSS.escape(e.url) + '"]');
          if (old) old.remove();  // a new revision replaces its card
          main.prepend(card(e));
          after = Math.max(after, e.id);
        }
        if (events.length) {
          const empty = document.getElementById("empty");
          if (empty) empty.remove();
          document.getElementById("shown").textContent = main.querySelectorAll(".card").length;
        }
        if (events.length >= answer.limit) {  // a full page: more are waiting, fetch them now
          setTimeout(poll, 0);
          return;
        }
      }
    } catch (err) {
      // the receiver restarting: try again at the next tick
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
})();
