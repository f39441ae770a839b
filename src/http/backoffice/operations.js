// The other cards: a transfer looked up and reversed (after a confirmation
// step), held transfers released or returned, agents' float, transfers per
// hour, alert emails and the audit log.
"use strict";

const Transfer = (() => {
  const { $, el } = Dom;
  let shown = null;

  function render() {
    if (!shown) return;
    $("transfer").hidden = false;
    Dom.fields($("transfer-fields"), [
      ["f_reference", el("code", {}, shown.reference)],
      ["f_kind", I18n.kind(shown.kind)],
      ["f_status", el("span", { class: "badge " + shown.status }, I18n.word(shown.status))],
      ["f_amount", Dom.money(shown.amount_minor)],
      ["f_fee", Dom.money(shown.fee_minor)],
      ["f_from", shown.from ?? "—"],
      ["f_to", shown.to ?? "—"],
      ["f_created", Dom.when(shown.created_at)],
      ["f_reversed_by", shown.reversed_by ? el("code", {}, shown.reversed_by) : I18n.t("not_reversed")],
    ]);
    App.gate($("reverse"), Boolean(shown.reversed_by));
    if (!$("confirm").hidden) confirmText();
  }

  function confirmText() {
    $("confirm-text").textContent = I18n.t("confirm_text", {
      reference: shown.reference, amount: Dom.money(shown.amount_minor), from: shown.from ?? "—", to: shown.to ?? "—",
    });
  }

  async function load(reference) {
    shown = await Api.get(Api.transfer(reference));
    render();
  }

  async function lookUp(event) {
    event.preventDefault();
    const reference = $("reference").value.trim();
    $("confirm").hidden = true;
    if (!reference) return Dom.fail("transfer-error", "err_empty_reference");
    Dom.ok("transfer-error");
    try {
      await load(reference);
      Dom.announce("transfer_found", { reference: shown.reference });
    } catch (error) {
      shown = null;
      $("transfer").hidden = true;
      Dom.fail("transfer-error", error);
    }
  }

  function ask() {
    if (!shown || $("reverse").disabled) return;
    confirmText();
    $("confirm").hidden = false;
    $("cancel-reverse").focus();
  }

  function cancel() {
    $("confirm").hidden = true;
    $("reverse").focus();
    Dom.announce("cancelled");
  }

  async function reverse() {
    const reference = shown.reference;
    $("confirm").hidden = true;
    Dom.ok("transfer-error");
    try {
      const result = await Api.post(Api.transfer(reference) + "/reverse");
      await load(reference);
      const said = { reference, reversal: result.reference };
      Dom.say("transfer-result", () => I18n.t("reversed", said));
      Dom.announce("reversed", said);
      App.refreshAudit();
      Account.reload();
    } catch (error) {
      Dom.fail("transfer-error", error);
    }
    $("reverse").focus();
  }

  function init() {
    $("transfer-form").addEventListener("submit", lookUp);
    $("reverse").addEventListener("click", ask);
    $("cancel-reverse").addEventListener("click", cancel);
    $("confirm-reverse").addEventListener("click", reverse);
  }

  function reset() {
    shown = null;
    $("transfer").hidden = true;
    $("confirm").hidden = true;
    $("reference").value = "";
    Dom.ok("transfer-result");
    Dom.ok("transfer-error");
  }

  return { init, render, reset };
})();

const Lists = (() => {
  const { $, el } = Dom;
  const data = { held: null, agents: null, traffic: null, alerts: null, audit: null };

  function renderHeld() {
    if (!data.held) return;
    const held = data.held.held || [];
    $("held-empty").hidden = held.length !== 0;
    $("held").hidden = held.length === 0;
    Dom.rows($("held").tBodies[0], held.map((h) => {
      const release = el("button", { type: "button", "data-release": h.reference,
        "aria-label": I18n.t("release_label", { reference: h.reference }) }, I18n.t("release"));
      const back = el("button", { type: "button", "data-return": h.reference,
        "aria-label": I18n.t("return_label", { reference: h.reference }) }, I18n.t("return"));
      release.addEventListener("click", () => settle(h.reference, "release"));
      back.addEventListener("click", () => settle(h.reference, "return"));
      App.gate(release, false);
      App.gate(back, false);
      return [el("code", {}, h.reference), `${h.from} → ${h.to}`, { text: Dom.money(h.amount_minor), num: true },
        h.rule, el("span", { class: "row-actions" }, release, back)];
    }));
  }

  async function settle(reference, how) {
    Dom.ok("held-error");
    try {
      const result = await Api.post(Api.held(reference) + "/" + how);
      Dom.announce(result.status === "returned" ? "returned" : "released", { reference });
      await Promise.all([load("held", "/held", renderHeld, "held-error"), App.refreshAudit()]);
      $("held-h").focus();
    } catch (error) {
      Dom.fail("held-error", error);
    }
  }

  function renderAgents() {
    if (!data.agents) return;
    const threshold = Number(data.agents.low_float_minor) || 0;
    const agents = [...(data.agents.agents || [])].sort((a, b) => a.balance_minor - b.balance_minor);
    $("float-threshold").textContent = I18n.t("float_threshold", { amount: Dom.money(threshold) });
    const figure = Dom.clear($("float-chart"));
    if (agents.length) figure.append(Charts.float(agents, threshold));
    figure.append(Charts.floatTable(agents));
  }

  function renderTraffic() {
    if (!data.traffic) return;
    Dom.clear($("traffic-chart")).append(Charts.traffic(data.traffic.hours || []));
  }

  function renderAlerts() {
    if (!data.alerts) return;
    const alerts = data.alerts.alerts || [];
    $("alerts-empty").hidden = alerts.length !== 0;
    $("alerts").hidden = alerts.length === 0;
    Dom.rows($("alerts").tBodies[0], alerts.map((a) => [Dom.when(a.created_at), a.subject, a.to, I18n.word(a.status)]));
  }

  function renderAudit() {
    if (!data.audit) return;
    Dom.rows($("audit").tBodies[0], (data.audit.entries || []).map((e) => [
      Dom.when(e.at), e.actor, e.action, e.target ?? "—",
      el("span", { class: "badge " + e.outcome }, I18n.word(e.outcome)), e.detail ?? "",
    ]), "audit_empty");
  }

  async function load(name, path, render, errorId) {
    try {
      data[name] = await Api.get(path);
      Dom.ok(errorId);
      render();
    } catch (error) {
      Dom.fail(errorId, error);
    }
  }

  const loaders = {
    held: () => load("held", "/held", renderHeld, "held-error"),
    agents: () => load("agents", "/agents", renderAgents, "float-error"),
    traffic: () => load("traffic", "/stats/transfers?hours=24", renderTraffic, "traffic-error"),
    alerts: () => load("alerts", "/alerts?limit=20", renderAlerts, "alerts-error"),
    audit: () => load("audit", "/audit?limit=30", renderAudit, "audit-error"),
  };

  function render() {
    renderHeld();
    renderAgents();
    renderTraffic();
    renderAlerts();
    renderAudit();
  }

  function reset() {
    for (const name of Object.keys(data)) data[name] = null;
    for (const id of ["held", "statement", "alerts", "audit"]) Dom.clear($(id).tBodies[0]);
    Dom.clear($("float-chart"));
    Dom.clear($("traffic-chart"));
  }

  return {
    loadAll: () => Promise.all(Object.values(loaders).map((f) => f())),
    audit: loaders.audit,
    render,
    reset,
  };
})();
