// Building the page from data. Text from the API only ever goes in through
// text nodes (el's string children, textContent): never as markup, so a
// name like <script>… shows as those characters.
"use strict";

const Dom = (() => {
  const SVG = "http://www.w3.org/2000/svg";

  function build(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) throw new Error("no handler attributes: use addEventListener");
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);
  const $ = (id) => document.getElementById(id);

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function money(minor, currency) {
    const n = Number(minor);
    if (!Number.isFinite(n)) return "—";
    const sign = n < 0 ? "−" : "";
    const abs = Math.abs(n);
    const major = Math.floor(abs / 100).toLocaleString("en-US");
    const cents = String(abs % 100).padStart(2, "0");
    return (currency || "KES") + " " + sign + major + "." + cents;
  }

  function locale() {
    return I18n.lang === "sw" ? "sw-KE" : "en-KE";
  }

  function when(stamp) {
    const date = new Date(stamp);
    if (Number.isNaN(date.getTime())) return stamp ? String(stamp) : "—";
    return date.toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
  }

  function hour(stamp) {
    const date = new Date(stamp);
    if (Number.isNaN(date.getTime())) return String(stamp);
    return date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  // What each message element says, as a function of the language, so a
  // language switch says it again in the other one.
  const said = new Map();

  function say(id, make) {
    said.set(id, make);
    $(id).textContent = make();
  }

  function resay() {
    for (const [id, make] of said) $(id).textContent = make();
  }

  // Says something to everyone: the live region reads it out.
  function announce(key, params) {
    say("status", () => I18n.t(key, params));
  }

  // The error in words, in the page's language.
  function describe(error) {
    if (!(error instanceof Api.ApiError)) return I18n.t("err_other", { code: "script", message: String(error) });
    const message = error.detail;
    switch (error.code) {
      case "network": return I18n.t("err_network");
      case "unauthorized": return I18n.t("err_unauthorized");
      case "forbidden": return I18n.t("err_forbidden");
      case "not_found": return I18n.t("err_not_found");
      case "invalid_state": return I18n.t("err_invalid_state", { message });
      case "already_exists": return I18n.t("err_already_exists");
      case "already_reversed": return I18n.t("err_already_reversed");
      case "not_reversible": return I18n.t("err_not_reversible", { message });
      case "reversal_funds_gone": return I18n.t("err_funds_gone");
      case "held_transfer": return I18n.t("err_held_transfer");
      case "not_held":
      case "already_settled": return I18n.t("err_already_settled");
      case "payload_too_large": return I18n.t("err_too_large");
      default:
        if (error.status === 404) return I18n.t("err_not_found");
        if (error.status === 413) return I18n.t("err_too_large");
        if (error.status === 400 || error.status === 422) return I18n.t("err_bad_request", { message: message || error.code });
        if (error.status >= 500) return I18n.t("err_server", { status: error.status });
        return I18n.t("err_other", { code: error.code, message });
    }
  }

  // Shows an error next to what failed (its role=alert reads it out).
  function fail(id, error) {
    say(id, () => (typeof error === "string" ? I18n.t(error) : describe(error)));
    if (error instanceof Api.ApiError && error.code === "unauthorized") App.signedOut(false);
  }

  function ok(id) {
    said.delete(id);
    $(id).textContent = "";
  }

  // A definition list from [label key, value] pairs.
  function fields(list, pairs) {
    clear(list);
    for (const [label, value] of pairs) {
      if (value === undefined) continue;
      list.append(el("dt", {}, I18n.t(label)), el("dd", {}, value ?? "—"));
    }
  }

  // A table body from rows of cells; a cell is text, a Node, or
  // { text, num: true } for a right-aligned figure.
  function rows(tbody, list, empty) {
    clear(tbody);
    if (list.length === 0 && empty) {
      const columns = tbody.closest("table").querySelectorAll("thead th").length;
      tbody.append(el("tr", {}, el("td", { colspan: columns, class: "empty" }, I18n.t(empty))));
    }
    for (const cells of list) {
      tbody.append(el("tr", {}, ...cells.map((cell) => {
        if (cell && typeof cell === "object" && !(cell instanceof Node)) {
          return el("td", { class: cell.num ? "num" : cell.cls }, cell.text);
        }
        return el("td", {}, cell);
      })));
    }
  }

  return { el, svg, $, clear, money, when, hour, say, resay, announce, describe, fail, ok, fields, rows };
})();
