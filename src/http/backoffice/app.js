// The page's start: language, sign in with an admin key (checked with
// /admin/v1/whoami), sign out, and who may press which button.
"use strict";

const App = (() => {
  const { $ } = Dom;
  let me = null; // { name, role } of the signed-in key

  const canAct = () => Boolean(me && me.role === "operator");

  // Disables a button when this key cannot act (saying why) or when the
  // action makes no sense for what is shown (`notApplicable`).
  function gate(button, notApplicable) {
    const viewer = !canAct();
    button.disabled = viewer || notApplicable;
    button.classList.add("act");
    if (viewer) {
      button.title = I18n.t("viewer_reason");
      button.setAttribute("aria-describedby", "viewer-note");
    } else {
      button.removeAttribute("title");
      button.removeAttribute("aria-describedby");
    }
  }

  function showDesk() {
    $("sign-in").hidden = true;
    $("desk").hidden = false;
    $("who").hidden = false;
    $("who-text").textContent = I18n.t("signed_in_as", { name: me.name, role: I18n.t("role_" + me.role) });
    $("viewer-note").hidden = canAct();
  }

  async function signIn(event) {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) {
      Dom.fail("sign-in-error", "err_empty_key");
      $("key").focus();
      return;
    }
    $("sign-in-button").disabled = true;
    try {
      me = await Api.whoami(key);
      Api.setKey(key);
      $("key").value = "";
      Dom.ok("sign-in-error");
      start();
      const who = me;
      Dom.announce("signed_in_as", () => ({ name: who.name, role: I18n.t("role_" + who.role) }));
    } catch (error) {
      Dom.say("sign-in-error", () => Dom.describe(error));
      $("key").focus();
    } finally {
      $("sign-in-button").disabled = false;
    }
  }

  function start() {
    for (const id of ["suspend", "resume", "unlock", "reverse"]) gate($(id), false);
    showDesk();
    $("find").focus();
    return Lists.loadAll();
  }

  // Back to the sign-in form; `said` when the person asked for it.
  function signedOut(said) {
    me = null;
    Api.clearKey();
    Account.reset();
    Transfer.reset();
    Lists.reset();
    $("desk").hidden = true;
    $("who").hidden = true;
    $("sign-in").hidden = false;
    if (said) Dom.announce("signed_out");
    else Dom.fail("sign-in-error", "err_unauthorized");
    $("key").focus();
  }

  function switchLanguage() {
    I18n.set($("lang").value);
    I18n.apply(document);
    if (me) showDesk();
    Account.render();
    Transfer.render();
    Lists.render();
    Dom.resay();
  }

  async function resume() {
    if (!Api.key()) return;
    try {
      me = await Api.whoami();
      await start();
    } catch (error) {
      if (error.code === "unauthorized") signedOut(false);
      else Dom.fail("sign-in-error", error);
    }
  }

  function init() {
    $("lang").value = I18n.lang;
    I18n.apply(document);
    $("lang").addEventListener("change", switchLanguage);
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signedOut(true));
    $("refresh").addEventListener("click", async () => {
      await Lists.loadAll();
      Dom.announce("refreshed");
    });
    Account.init();
    Transfer.init();
    $("key").focus();
    resume();
  }

  document.addEventListener("DOMContentLoaded", init);
  return { gate, signedOut, refreshAudit: () => Lists.audit(), get me() { return me; } };
})();
