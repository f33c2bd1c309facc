/* The case page's BPMN diagram: the pinned process version drawn by bpmn-js, with the case's
   completed, active, paused and overdue steps marked from its work items. */
(function () {
  "use strict";

  var MARKER_KINDS = ["completed", "active", "paused", "overdue"];

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status + " for " + url); }
      return r.json();
    });
  }

  function getText(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/xml"}}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status + " for " + url); }
      return r.text();
    });
  }

  function showError(container, error) {
    container.textContent = "";
    var message = document.createElement("p");
    message.className = "case-diagram-error text-muted small m-2";
    message.textContent = container.dataset.errorMessage || "The process diagram could not be shown.";
    container.appendChild(message);
    container.dataset.ready = "error";
    if (window.console && error) { window.console.warn("case diagram:", error); }
  }

  function addHolderBadge(overlays, element, label, holder) {
    var badge = document.createElement("div");
    badge.className = "case-diagram-holder";
    badge.textContent = holder;
    badge.title = label + ": " + holder;
    overlays.add(element, "case-holder", {position: {bottom: -4, left: 0}, html: badge});
  }

  function applyMarkers(viewer, container, markers) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    MARKER_KINDS.forEach(function (kind) {
      var ids = markers[kind] || [];
      ids.forEach(function (id) {
        // Work items of an element the diagram does not show (an older layout) are skipped.
        if (registry.get(id)) { canvas.addMarker(id, "step-" + kind); }
      });
      container.dataset[kind] = ids.join(" ");
    });
    var holders = markers.holders || {};
    Object.keys(holders).forEach(function (id) {
      var element = registry.get(id);
      if (element) { addHolderBadge(overlays, element, container.dataset.holderLabel || "Held by", holders[id]); }
    });
    window.caseDiagramMarkers = markers;
  }

  function wireZoomButtons(viewer, container) {
    var canvas = viewer.get("canvas");
    var panel = container.closest(".case-diagram-panel") || document;
    panel.querySelectorAll("[data-diagram-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var how = button.getAttribute("data-diagram-zoom");
        if (how === "fit") {
          canvas.zoom("fit-viewport", "auto");
        } else {
          canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
        }
      });
    });
  }

  function render(container) {
    if (typeof window.BpmnJS !== "function" || typeof window.fetch !== "function") {
      showError(container, new Error("bpmn-js is not loaded"));
      return;
    }
    var viewer = new window.BpmnJS({container: container, height: "100%", width: "100%"});
    // The wheel keeps scrolling the page; zoom with the buttons, pan by dragging.
    try { viewer.get("zoomScroll").toggle(false); } catch (e) { /* a viewer without zoomScroll */ }
    // A plain preview (a process version) has no markers to show.
    var markers = container.dataset.markersUrl ? getJson(container.dataset.markersUrl) : Promise.resolve({});
    Promise.all([getText(container.dataset.xmlUrl), markers])
      .then(function (results) {
        return viewer.importXML(results[0]).then(function () { return results[1]; });
      })
      .then(function (markers) {
        viewer.get("canvas").zoom("fit-viewport", "auto");
        applyMarkers(viewer, container, markers);
        wireZoomButtons(viewer, container);
        container.dataset.ready = "true";
      })
      .catch(function (error) {
        try { viewer.destroy(); } catch (e) { /* already gone */ }
        showError(container, error);
      });
  }

  function start() {
    document.querySelectorAll("[data-testid=case-diagram]").forEach(render);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
