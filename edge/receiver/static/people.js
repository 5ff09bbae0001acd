// Adds a photo to a named person: the picture's bytes are posted as they are (no form encoding).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("photo-form");
  if (!form) return;
  const status = document.getElementById("photo-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("photo-file").files[0];
    if (!file) { status.textContent = "choose a photo first"; return; }
    status.textContent = "adding…";
    const response = await fetch(`/api/people/${encodeURIComponent(form.dataset.person)}/photos`, {
      method: "POST", body: file, headers: {"Content-Type": file.type || "application/octet-stream",
                                           "Accept": "application/json"}, credentials: "same-origin"});
    const answer = await response.json().catch(() => ({}));
    if (response.ok) { window.location.reload(); } else { status.textContent = answer.error || `error ${response.status}`; }
  });
});
