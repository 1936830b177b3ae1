/* Flow Builder behaviour the server cannot do: open and close the step modal (its form rows are
   added and removed by app.js, as in the workflow editor), drag from a stage's handle onto another stage (a new action), drag steps to
   reorder them, zoom the canvas, and warn before leaving with unsaved changes. Everything that
   changes the design is an htmx request; the server answers with the fragments to swap. */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function post(url, values) {
    // From #builder, so these requests join its queue (hx-sync) with the forms' requests.
    return htmx.ajax("POST", url, {
      values: values,
      swap: "none",
      source: "#builder",
      target: "#builder",
      headers: { "X-CSRFToken": csrfToken() },
    });
  }

  // --- the step modal ---------------------------------------------------------------------------

  function openDialogs(root) {
    var dialogs = [];
    if (root.matches && root.matches("dialog[data-autoopen]")) dialogs.push(root);
    if (root.querySelectorAll) dialogs = dialogs.concat(Array.from(root.querySelectorAll("dialog[data-autoopen]")));
    dialogs.forEach(function (dialog) {
      if (dialog.open && dialog.matches(":modal")) return;
      if (dialog.open) dialog.removeAttribute("open");
      dialog.showModal();
      var first = dialog.querySelector("[autofocus]") || dialog.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });
  }

  function closeModal() {
    var slot = document.getElementById("modal-slot");
    var dialog = document.getElementById("step-modal");
    if (dialog) {
      if (dialog.open) dialog.close();
      dialog.remove();
    }
    if (slot) slot.innerHTML = "";
  }

  function markErrors(root) {
    var box = root.id === "step-form-errors" ? root : root.querySelector && root.querySelector("#step-form-errors");
    if (!box) return;
    var form = box.closest("form");
    if (!form) return;
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
    var first = null;
    box.querySelectorAll("[data-error-for]").forEach(function (item) {
      var name = item.getAttribute("data-error-for");
      if (!name) return;
      var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      if (input) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    });
    if (box.children.length) box.scrollIntoView({ block: "nearest" });
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("[data-close-modal]")) {
      event.preventDefault();
      closeModal();
      return;
    }
    // A choice in a dropdown menu closes it.
    var item = target.closest(".dropdown-menu a");
    if (item) {
      var details = item.closest("details");
      if (details) details.open = false;
    }
    // A click outside an open menu closes it.
    document.querySelectorAll("details.dropdown[open], details.stage-menu[open]").forEach(function (open) {
      if (!open.contains(target)) open.open = false;
    });
  });

  // An opened menu scrolls into view in the sidebar.
  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (details.matches && details.matches("details.dropdown") && details.open) {
        var menu = details.querySelector(".dropdown-menu");
        if (menu) menu.scrollIntoView({ block: "nearest" });
      }
    },
    true
  );

  // Credential headers are always kept secret by the server; tick the box so the form says so.
  var SENSITIVE = /authorization|cookie|token|secret|password|auth|key|signature/i;
  document.addEventListener("input", function (event) {
    var input = event.target;
    var match = input.name && input.name.match(/^headers-(\d+)-name$/);
    if (!match || !SENSITIVE.test(input.value)) return;
    var box = input.form && input.form.querySelector('[name="headers-' + match[1] + '-secret"]');
    if (box) box.checked = true;
  });

  // --- zoom -----------------------------------------------------------------------------------

  var ZOOMS = [0.4, 0.5, 0.6, 0.75, 0.9, 1, 1.15, 1.3];

  function currentZoom() {
    var value = parseFloat(sessionStorage.getItem("builder-zoom") || "1");
    return isNaN(value) ? 1 : value;
  }

  function applyZoom(value) {
    var canvas = document.getElementById("canvas");
    if (!canvas) return;
    sessionStorage.setItem("builder-zoom", String(value));
    canvas.style.zoom = String(value);
    canvas.classList.toggle("zoomed", value !== 1);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-zoom]");
    if (!button) return;
    var kind = button.getAttribute("data-zoom");
    var zoom = currentZoom();
    if (kind === "fit") {
      var canvas = document.getElementById("canvas");
      var scroll = document.getElementById("canvas-scroll");
      var w = parseFloat(canvas.getAttribute("data-width"));
      var h = parseFloat(canvas.getAttribute("data-height"));
      var fit = Math.min(1, (scroll.clientWidth - 8) / w, (scroll.clientHeight - 8) / h);
      applyZoom(Math.max(0.5, Math.round(fit * 100) / 100));
      return;
    }
    var index = ZOOMS.findIndex(function (z) {
      return z >= zoom - 0.001;
    });
    if (index < 0) index = ZOOMS.length - 1;
    if (kind === "in") index = Math.min(ZOOMS.length - 1, ZOOMS[index] > zoom + 0.001 ? index : index + 1);
    else index = Math.max(0, ZOOMS[index] < zoom - 0.001 ? index : index - 1);
    applyZoom(ZOOMS[index]);
  });

  // --- drag from a stage's handle onto another stage: a new action -----------------------------

  var drag = null;

  function canvasPoint(canvas, event) {
    var rect = canvas.getBoundingClientRect();
    var zoom = currentZoom();
    return { x: (event.clientX - rect.left) / zoom, y: (event.clientY - rect.top) / zoom };
  }

  function stageAt(event) {
    var el = document.elementFromPoint(event.clientX, event.clientY);
    return el ? el.closest(".stage-box[data-stage-name]") : null;
  }

  document.addEventListener("pointerdown", function (event) {
    var handle = event.target.closest(".stage-handle");
    if (!handle) return;
    event.preventDefault();
    var canvas = document.getElementById("canvas");
    var line = canvas.querySelector(".drag-line");
    var start = canvasPoint(canvas, event);
    drag = { from: handle.getAttribute("data-stage-id"), canvas: canvas, line: line, over: null };
    handle.setPointerCapture(event.pointerId);
    line.setAttribute("x1", start.x);
    line.setAttribute("y1", start.y);
    line.setAttribute("x2", start.x);
    line.setAttribute("y2", start.y);
    line.removeAttribute("hidden");
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var point = canvasPoint(drag.canvas, event);
    drag.line.setAttribute("x2", point.x);
    drag.line.setAttribute("y2", point.y);
    var over = stageAt(event);
    if (over && over.getAttribute("data-stage-id") === drag.from) over = null;
    if (drag.over !== over) {
      if (drag.over) drag.over.classList.remove("drop-target");
      if (over) over.classList.add("drop-target");
      drag.over = over;
    }
  });

  function endDrag(event, cancelled) {
    if (!drag) return;
    var state = drag;
    drag = null;
    state.line.setAttribute("hidden", "");
    if (state.over) state.over.classList.remove("drop-target");
    var target = cancelled ? null : stageAt(event);
    if (!target || target.getAttribute("data-stage-id") === state.from) return;
    var url = document.getElementById("builder").getAttribute("data-new-action-url");
    post(url, { from_stage: state.from, to_stage: target.getAttribute("data-stage-id") });
  }

  document.addEventListener("pointerup", function (event) {
    endDrag(event, false);
  });
  document.addEventListener("pointercancel", function (event) {
    endDrag(event, true);
  });

  // --- drag steps to reorder (the ↑ ↓ buttons do the same from the keyboard) --------------------

  var dragged = null;

  document.addEventListener("dragstart", function (event) {
    var step = event.target.closest && event.target.closest(".step[data-step-key]");
    if (!step) return;
    dragged = step;
    step.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", step.getAttribute("data-step-key"));
  });

  function clearDropMarks() {
    document.querySelectorAll(".drop-before, .drop-after").forEach(function (el) {
      el.classList.remove("drop-before", "drop-after");
    });
  }

  document.addEventListener("dragover", function (event) {
    if (!dragged) return;
    var over = event.target.closest && event.target.closest(".step[data-step-key]");
    if (!over || over.parentElement !== dragged.parentElement) return;
    event.preventDefault();
    clearDropMarks();
    if (over === dragged) return;
    var rect = over.getBoundingClientRect();
    over.classList.add(event.clientY < rect.top + rect.height / 2 ? "drop-before" : "drop-after");
  });

  document.addEventListener("drop", function (event) {
    if (!dragged) return;
    var over = event.target.closest && event.target.closest(".step[data-step-key]");
    var source = dragged;
    var after = over && over.classList.contains("drop-after");
    clearDropMarks();
    source.classList.remove("dragging");
    dragged = null;
    if (!over || over === source || over.parentElement !== source.parentElement) return;
    event.preventDefault();
    var from = parseInt(source.getAttribute("data-index"), 10);
    var to = parseInt(over.getAttribute("data-index"), 10) + (after ? 1 : 0);
    if (from < to) to -= 1;
    if (to === from) return;
    post(source.getAttribute("data-move-url"), { to: String(to) });
  });

  document.addEventListener("dragend", function () {
    clearDropMarks();
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });

  // --- unsaved changes --------------------------------------------------------------------------

  window.addEventListener("beforeunload", function (event) {
    var bar = document.getElementById("savebar");
    if (bar && bar.getAttribute("data-unsaved") === "true") {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Save and Discard live outside the swapped #savebar (see the template), so their enabled state
  // follows the draft the server last reported, and an edit typed but not yet sent (its change
  // event fires when the input loses focus, that is when Save is pressed) already enables Save.
  function syncSaveButtons(pending) {
    var bar = document.getElementById("savebar");
    var dirty = pending || (bar && bar.getAttribute("data-unsaved") === "true");
    ["save-button", "discard-button"].forEach(function (id) {
      var button = document.getElementById(id);
      if (button) button.disabled = !dirty;
    });
  }

  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#action-props")) syncSaveButtons(true);
  });

  // htmx looks for a response's out-of-band targets in the document of the element that sent the
  // request; when that element left the page meanwhile (the step modal closed while its request
  // ran), htmx would look in the detached element and drop every fragment. Swap them against the
  // page instead, so the page always ends showing what the server answered.
  // Events on a detached element no longer bubble to the document, so listen on the element itself.
  function swapIntoPage(event) {
    var detail = event.detail;
    if (!detail.shouldSwap || document.body.contains(detail.elt)) return;
    detail.shouldSwap = false;
    htmx.swap(document.body, detail.serverResponse, { swapStyle: "none" });
  }

  var guarded = new WeakSet();
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (guarded.has(elt)) return;
    guarded.add(elt);
    elt.addEventListener("htmx:beforeSwap", swapIntoPage);
  });

  // A form marked data-reset-on-success (the new stage's name) empties once its request succeeded.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (event.detail.successful && form.matches && form.matches("form[data-reset-on-success]")) form.reset();
  });

  // --- new content ------------------------------------------------------------------------------

  htmx.onLoad(function (root) {
    if (root.id === "savebar") syncSaveButtons(false);
    openDialogs(root);
    markErrors(root);
    if (root.id === "canvas" || (root.querySelector && root.querySelector("#canvas"))) {
      var zoom = currentZoom();
      if (zoom !== 1) applyZoom(zoom);
    }
  });
})();
