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
// The template page's live preview: the text being edited, rendered with
// the variables of the form, asked of the console as JSON a moment after
// the typing stops. Without this script the Preview button does the same.
(function () {
  const form = document.getElementById("template-form");
  if (!form || !form.dataset.preview) return;
  const out = document.getElementById("template-preview");
  const problem = document.getElementById("template-problem");
  const vars = document.getElementById("template-vars");
  let timer = null;
  let seq = 0;
  function addVariables(names) {
    names.forEach(function (name) {
      if (form.elements["var." + name]) return;
      const p = document.createElement("p");
      const label = document.createElement("label");
      label.htmlFor = "var-" + name;
      label.textContent = name;
      const input = document.createElement("input");
      input.type = "text";
      input.name = "var." + name;
      input.id = "var-" + name;
      input.dataset.var = "";
      p.appendChild(label);
      p.appendChild(input);
      vars.appendChild(p);
    });
  }
  function preview() {
    const mine = ++seq;
    const body = new URLSearchParams(new FormData(form));
    fetch(form.dataset.preview, {method: "POST", body: body, credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(function (a) {
        if (mine !== seq) return; // a later preview is on its way
        out.textContent = a.text;
        problem.textContent = a.problem;
        addVariables(a.variables || []);
      }, function () {
        if (mine === seq) problem.textContent = "The preview could not be loaded; use the Preview button.";
      });
  }
  form.addEventListener("input", function (e) {
    if (e.target.id !== "template-text" && !("var" in e.target.dataset)) return;
    clearTimeout(timer);
    timer = setTimeout(preview, 250);
  });
})();

// The link page of a whatsapp account follows its linking as server-sent
// events: each new QR code replaces the image, then "Connected as +1…".
(function () {
  var box = document.getElementById("link");
  if (!box || !box.dataset.events || !window.EventSource) {
    return;
  }
  var state = document.getElementById("link-state");
  var img = document.getElementById("link-qr");
  var code = document.getElementById("link-code");
  var es = new EventSource(box.dataset.events);
  es.addEventListener("link", function (e) {
    var l = JSON.parse(e.data);
    state.textContent = l.text;
    box.dataset.state = l.state;
    if (l.qr_png) {
      img.src = l.qr_png;
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
    code.textContent = l.code || "";
    if (l.state !== "linking") {
      es.close(); // the stream ends here; do not reconnect
    }
  });
})();
