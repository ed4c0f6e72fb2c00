// sliders: one native <input type="range"> per slider axis (keyboard and screen-reader
// accessible), with its name and the current tick label.

// `specs`: [{name, labels, index, row}] -- `row` marks the row slider. `onInput(k, index)` is
// called when the reader moves slider k.
export function buildSliders(container, specs, onInput) {
  container.replaceChildren();
  specs.forEach((spec, k) => {
    const wrap = document.createElement("label");
    wrap.className = spec.row ? "attn-slider attn-row-slider" : "attn-slider";
    const caption = document.createElement("span");
    caption.className = "attn-slider-name";
    caption.textContent = spec.name;
    const input = document.createElement("input");
    input.type = "range";
    input.min = "0";
    input.step = "1";
    const shown = document.createElement("output");
    shown.className = "attn-slider-value";
    input.addEventListener("input", () => onInput(k, Number(input.value)));
    wrap.append(caption, input, shown);
    container.appendChild(wrap);
  });
  syncSliders(container, specs);
}

// Bring every slider to `specs` (index, and range: the row slider's changes with trimmed examples).
export function syncSliders(container, specs) {
  container.querySelectorAll("label.attn-slider").forEach((wrap, k) => {
    const { name, labels, index } = specs[k];
    const input = wrap.querySelector("input");
    input.max = String(Math.max(0, labels.length - 1));
    input.value = String(index);
    input.disabled = labels.length < 2;
    input.setAttribute("aria-valuetext", `${name}: ${labels[index]}`);
    wrap.querySelector("output").textContent = labels[index];
  });
}
