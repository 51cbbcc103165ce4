// Draws the boxes an LLM analysis gave (pixel coordinates of the snapshot) over the snapshot in admin.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";

  function draw(figure) {
    const img = figure.querySelector("img");
    const svg = figure.querySelector("svg");
    const boxes = JSON.parse(figure.dataset.boxes || "[]");
    if (!img.naturalWidth) return;
    svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren();
    const stroke = Math.max(2, img.naturalWidth / 300);
    for (const item of boxes) {
      const [x1, y1, x2, y2] = item.box;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", Math.min(x1, x2));
      rect.setAttribute("y", Math.min(y1, y2));
      rect.setAttribute("width", Math.abs(x2 - x1));
      rect.setAttribute("height", Math.abs(y2 - y1));
      rect.setAttribute("fill", "none");
      rect.setAttribute("stroke", "#ff3b30");
      rect.setAttribute("stroke-width", stroke);
      svg.appendChild(rect);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", Math.min(x1, x2) + stroke);
      label.setAttribute("y", Math.min(y1, y2) + stroke * 6);
      label.setAttribute("fill", "#ff3b30");
      label.setAttribute("font-size", stroke * 6);
      label.textContent = item.label + (item.confidence != null ? ` ${item.confidence.toFixed(2)}` : "");
      svg.appendChild(label);
    }
    figure.dataset.drawn = String(boxes.length);
  }

  function start() {
    for (const figure of document.querySelectorAll("figure.vsp-boxes")) {
      const img = figure.querySelector("img");
      if (img.complete) draw(figure);
      img.addEventListener("load", () => draw(figure));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
