// wagate console: copy the inbound URL, expand an attempt row. Everything
// works without this script except the Copy button (select the URL instead).
"use strict";

function copyText(input) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(input.value);
  }
  // Plain http on another host: the Clipboard API is not offered there.
  input.focus();
  input.select();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function toggleRow(id) {
  const row = document.getElementById(id);
  if (!row) return;
  row.hidden = !row.hidden;
  document.querySelectorAll('button[data-toggle="' + id + '"]').forEach(function (b) {
    b.setAttribute("aria-expanded", String(!row.hidden));
    b.textContent = row.hidden ? "▸" : "▾";
  });
}

document.addEventListener("click", function (e) {
  const copy = e.target.closest("[data-copy]");
  if (copy) {
    const input = document.getElementById(copy.dataset.copy);
    const note = copy.parentElement.querySelector(".copied");
    copyText(input).then(function () {
      if (note) {
        note.textContent = "Copied";
        setTimeout(function () { note.textContent = ""; }, 3000);
      }
    }, function () {
      input.select();
      if (note) note.textContent = "Press Ctrl+C to copy";
    });
    return;
  }
  if (e.target.closest("a")) return; // links in a row keep working
  const t = e.target.closest("[data-toggle]");
  if (t) {
    e.preventDefault();
    toggleRow(t.dataset.toggle);
  }
});

// A form with data-confirm asks before it is sent (deleting an endpoint).
// Without the script the form is sent at once: the owner pressed a red
// button labelled with what it does.
document.addEventListener("submit", function (e) {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});
