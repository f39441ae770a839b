// Two small pictures drawn as inline SVG, no library: agents' float against
// the low-float threshold (horizontal bars) and transfers per hour
// (columns). Each is role="img" with a title and a description in words;
// the float chart also has a table beside it for exact figures.
"use strict";

const Charts = (() => {
  const { svg, el } = Dom;

  function frame(width, height, titleId, title, desc) {
    const descId = titleId + "-desc";
    return svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      preserveAspectRatio: "xMinYMin meet",
      class: "svg-chart",
    }, svg("title", { id: titleId }, title), svg("desc", { id: descId }, desc));
  }

  // The smallest 1, 2 or 5 × 10^n at least `value`: a round axis top.
  function roundUp(value) {
    if (value <= 0) return 1;
    const base = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) if (step * base >= value) return step * base;
    return 10 * base;
  }

  // agents: [{msisdn, name, balance_minor, low}], sorted lowest first.
  function float(agents, thresholdMinor) {
    const shown = agents.slice(0, 30);
    const labelW = 180, valueW = 150, barW = 330, rowH = 28, top = 30;
    const width = labelW + barW + valueW, height = top + rowH * shown.length + 8;
    const max = roundUp(Math.max(thresholdMinor * 1.5, ...shown.map((a) => Number(a.balance_minor) || 0)));
    const x = (minor) => labelW + (Math.max(0, Number(minor) || 0) / max) * barW;
    const low = agents.filter((a) => a.low).length;
    const chart = frame(width, height, "float-title", I18n.t("float_chart"),
      I18n.t("float_desc", { agents: agents.length, low, amount: Dom.money(thresholdMinor) }));
    shown.forEach((agent, i) => {
      const y = top + i * rowH;
      const label = agent.name.length > 20 ? agent.name.slice(0, 19) + "…" : agent.name;
      chart.append(
        svg("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "label" }, label),
        svg("rect", { x: labelW, y: y + 4, width: Math.max(2, x(agent.balance_minor) - labelW), height: rowH - 8,
          class: agent.low ? "bar low" : "bar", rx: 3 },
          svg("title", {}, `${agent.name} (${agent.msisdn}): ${Dom.money(agent.balance_minor)}`)),
        svg("text", { x: labelW + barW + 8, y: y + 17, class: agent.low ? "value low" : "value" },
          Dom.money(agent.balance_minor) + (agent.low ? " · " + I18n.t("low") : "")),
      );
    });
    const tx = x(thresholdMinor);
    chart.append(
      svg("line", { x1: tx, x2: tx, y1: top - 6, y2: height - 4, class: "threshold" }),
      svg("text", { x: tx, y: top - 10, "text-anchor": "middle", class: "threshold-label" },
        I18n.t("threshold") + " " + Dom.money(thresholdMinor)),
    );
    return chart;
  }

  // hours: [{hour, count, amount_minor}], oldest first.
  function traffic(hours) {
    const left = 44, bottom = 28, top = 12, plotH = 180, colW = 24;
    const width = left + colW * Math.max(hours.length, 1) + 8, height = top + plotH + bottom;
    const counts = hours.map((h) => Number(h.count) || 0);
    const total = counts.reduce((a, b) => a + b, 0);
    const amount = hours.reduce((a, h) => a + (Number(h.amount_minor) || 0), 0);
    const max = roundUp(Math.max(...counts, 1));
    const busiest = hours[counts.indexOf(Math.max(...counts))];
    const chart = frame(width, height, "traffic-title", I18n.t("traffic_chart", { hours: hours.length }),
      I18n.t("traffic_desc", { count: total, amount: Dom.money(amount), hours: hours.length,
        hour: busiest ? Dom.hour(busiest.hour) : "—", max: Math.max(...counts, 0) }));
    for (const tick of [0, max / 2, max]) {
      const y = top + plotH - (tick / max) * plotH;
      chart.append(
        svg("line", { x1: left, x2: width - 4, y1: y, y2: y, class: "grid" }),
        svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, String(tick)),
      );
    }
    hours.forEach((h, i) => {
      const count = counts[i];
      const barH = (count / max) * plotH;
      const x = left + i * colW;
      chart.append(svg("rect", { x: x + 3, y: top + plotH - barH, width: colW - 6, height: Math.max(barH, count ? 1 : 0),
        class: "bar", rx: 2 }, svg("title", {}, I18n.t("traffic_bar", { hour: Dom.hour(h.hour), count, amount: Dom.money(h.amount_minor) }))));
      if (i % 3 === 0) {
        chart.append(svg("text", { x: x + colW / 2, y: top + plotH + 18, "text-anchor": "middle", class: "axis" }, Dom.hour(h.hour)));
      }
    });
    return chart;
  }

  // The float figures as a table too: exact numbers, readable by everyone.
  function floatTable(agents) {
    const table = el("table", { class: "compact" },
      el("caption", { class: "visually-hidden" }, I18n.t("float_h")),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, I18n.t("col_agent")),
        el("th", { scope: "col" }, I18n.t("f_msisdn")),
        el("th", { scope: "col", class: "num" }, I18n.t("col_balance")))),
      el("tbody"));
    Dom.rows(table.tBodies[0], agents.map((a) => [a.name, a.msisdn,
      { text: Dom.money(a.balance_minor) + (a.low ? " (" + I18n.t("low") + ")" : ""), num: true }]), "no_agents");
    return table;
  }

  return { float, traffic, floatTable };
})();
