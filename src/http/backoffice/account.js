// The account card: find an account by phone number or till, show it and
// its statement, and suspend, resume or unlock it.
"use strict";

const Account = (() => {
  const { $, el } = Dom;
  let shown = null; // { account, entries } last shown, for a language switch

  function render() {
    if (!shown) return;
    const { account, entries } = shown;
    $("account").hidden = false;
    Dom.fields($("account-fields"), [
      ["f_name", account.name],
      ["f_msisdn", account.msisdn],
      ["f_till", account.till ?? undefined],
      ["f_kind", I18n.kind(account.kind)],
      ["f_status", el("span", { class: "badge " + account.status }, I18n.word(account.status))],
      ["f_tier", account.tier],
      ["f_balance", Dom.money(account.balance_minor, account.currency)],
    ]);
    Dom.rows($("statement").tBodies[0], entries.map((entry) => [
      Dom.when(entry.created_at),
      el("code", {}, entry.reference),
      I18n.kind(entry.kind),
      entry.counterparty || "—",
      { text: Dom.money(entry.amount_minor, account.currency), num: true },
      { text: entry.fee_minor ? Dom.money(entry.fee_minor, account.currency) : "—", num: true },
    ]), "no_entries");
    const status = account.status;
    App.gate($("suspend"), status === "suspended");
    App.gate($("resume"), status !== "suspended");
    App.gate($("unlock"), status !== "locked");
  }

  async function load(query) {
    const [account, statement] = await Promise.all([
      Api.get(Api.account(query)),
      Api.get(Api.account(query) + "/statement?limit=50"),
    ]);
    shown = { account, entries: statement.entries || [] };
    render();
    return account;
  }

  async function find(event) {
    event.preventDefault();
    const query = $("find").value.trim();
    if (!query) return Dom.fail("account-error", "err_empty_account");
    Dom.ok("account-error");
    try {
      const account = await load(query);
      Dom.announce("account_found", { account: account.till || account.msisdn, name: account.name });
    } catch (error) {
      shown = null;
      $("account").hidden = true;
      Dom.fail("account-error", error);
    }
  }

  async function act(event) {
    const action = event.currentTarget.dataset.action;
    if (!shown || event.currentTarget.disabled) return;
    const id = shown.account.till || shown.account.msisdn;
    Dom.ok("account-error");
    try {
      const account = await Api.post(Api.account(id) + "/" + action);
      await load(id);
      Dom.announce("account_changed", () => ({ account: id, status: I18n.word(account.status) }));
      App.refreshAudit();
    } catch (error) {
      Dom.fail("account-error", error);
    }
  }

  function init() {
    $("find-form").addEventListener("submit", find);
    for (const id of ["suspend", "resume", "unlock"]) $(id).addEventListener("click", act);
  }

  function reset() {
    shown = null;
    $("account").hidden = true;
    $("find").value = "";
    Dom.ok("account-error");
  }

  return { init, render, reset, reload: () => shown && load(shown.account.till || shown.account.msisdn) };
})();
