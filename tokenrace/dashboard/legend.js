// The race chart's legend: one entry per provider (its line style and name) and a key to the marks. It shows
// a value only where there is one (the count at the cursor while hovering), never a placeholder.

export class ChartLegend {
  constructor(box) {
    this.box = box;
    this.items = [];
  }

  setColumns(columns) {
    this.items = columns.map((c) => {
      const item = document.createElement("span");
      item.className = "lg-item";
      item.dataset.legendProvider = c.name;
      item.style.setProperty("--c", c.color);
      if (c.dash.length) item.classList.add("dashed");
      const line = document.createElement("i");
      line.className = "lg-line";
      line.setAttribute("aria-hidden", "true");
      const name = document.createElement("span");
      name.className = "lg-name";
      name.textContent = c.name;
      name.title = c.name;
      const val = document.createElement("span");
      val.className = "lg-val mono";
      item.append(line, name, val);
      return item;
    });
    this.keys = [key("lg-dot", "first answer token"), key("lg-dash", "reasoning")];
    this.box.replaceChildren(...this.items, ...this.keys);
    this.columns = columns;
    this.refreshKeys();
  }

  /** The reasoning key only when some provider reasoned. */
  refreshKeys() {
    if (!this.keys) return;
    this.keys[1].hidden = !this.columns.some((c) => c.reasoningSpan);
  }

  /** Values at the cursor (one per column, null where a line has not started), or null to clear them. */
  showValues(values) {
    this.items.forEach((item, i) => {
      const v = values ? values[i] : null;
      item.lastChild.textContent = v === null || v === undefined ? "" : String(Math.round(v));
    });
  }
}

function key(cls, text) {
  const span = document.createElement("span");
  span.className = "lg-key";
  const mark = document.createElement("i");
  mark.className = cls;
  mark.setAttribute("aria-hidden", "true");
  span.append(mark, text);
  return span;
}
