// The event page's delete button: asks, sends DELETE, then goes back to the gallery.
(function () {
  "use strict";
  const button = document.getElementById("delete");
  if (!button) return;
  button.addEventListener("click", async function () {
    if (!window.confirm("Delete this event, its pictures and everything derived from it?")) return;
    button.disabled = true;
    const response = await fetch(button.dataset.url, {method: "DELETE", credentials: "same-origin"});
    if (response.status === 204 || response.status === 404) {
      window.location.assign(button.dataset.back);
    } else {
      button.disabled = false;
      button.textContent = "Delete failed (" + response.status + "): try again";
    }
  });
})();
