// Calls to the operator API (/admin/v1) with the signed-in key. The key
// lives in sessionStorage: this tab only, gone when it closes or on sign out.
"use strict";

const Api = (() => {
  const STORE = "mkoba.adminKey";

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.status = status;
      this.code = code;
      this.detail = message || "";
    }
  }

  function key() {
    try { return sessionStorage.getItem(STORE) || ""; } catch (_) { return ""; }
  }

  function setKey(value) {
    try { sessionStorage.setItem(STORE, value); } catch (_) { /* this page load only */ }
  }

  function clearKey() {
    try { sessionStorage.removeItem(STORE); } catch (_) { /* nothing kept */ }
  }

  async function call(method, path, body, extraHeaders, withKey) {
    const headers = { Accept: "application/json", Authorization: "Bearer " + (withKey ?? key()) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, extraHeaders || {});
    let response;
    try {
      response = await fetch("/admin/v1" + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        redirect: "error",
      });
    } catch (_) {
      throw new ApiError(0, "network", "");
    }
    let data = null;
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || "http_" + response.status, error.message || "");
    }
    return data;
  }

  // A fresh key for each write: a retried click is a new request, while the
  // server still sees one request per click.
  function idempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "bo-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const part = encodeURIComponent;

  return {
    ApiError,
    key,
    setKey,
    clearKey,
    whoami: (candidate) => call("GET", "/whoami", undefined, undefined, candidate),
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body ?? {}, { "Idempotency-Key": idempotencyKey() }),
    account: (account) => "/accounts/" + part(account),
    transfer: (reference) => "/transfers/" + part(reference),
    held: (reference) => "/held/" + part(reference),
  };
})();
