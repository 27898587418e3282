// The shell's script: the phone menu, the language switch, and helpers the
// pages share (times in the site's zone, the API with the session and CSRF).
(function () {
  "use strict";
  const body = document.body;
  const language = body.dataset.language || document.documentElement.lang || "ko";
  const timeZone = body.dataset.timeZone || "Asia/Seoul";

  const toggle = document.querySelector(".nav-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      const menu = document.getElementById(toggle.getAttribute("aria-controls"));
      const open = menu.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  const languageSelect = document.getElementById("site-language");
  if (languageSelect) {
    languageSelect.addEventListener("change", function () { languageSelect.form.submit(); });
  }

  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  const dateTimeFormat = new Intl.DateTimeFormat(language, {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const dateFormat = new Intl.DateTimeFormat(language, { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });

  window.site = {
    language,
    timeZone,
    csrfToken: function () { return cookie("csrftoken"); },
    // An ISO time from the API, shown in the site's zone (not the browser's).
    formatDateTime: function (iso) { return iso ? dateTimeFormat.format(new Date(iso)) : ""; },
    formatDate: function (iso) { return iso ? dateFormat.format(new Date(iso)) : ""; },
    // fetch() for the platform's JSON API: session cookie, CSRF header,
    // the page's language; resolves to {ok, status, data}.
    api: async function (url, options) {
      const init = Object.assign({ credentials: "same-origin" }, options || {});
      init.headers = Object.assign({ "Accept": "application/json", "Accept-Language": language }, init.headers || {});
      const method = (init.method || "GET").toUpperCase();
      if (method !== "GET" && method !== "HEAD") {
        init.headers["X-CSRFToken"] = cookie("csrftoken");
        if (init.body && !(init.body instanceof FormData) && typeof init.body !== "string") {
          init.body = JSON.stringify(init.body);
          init.headers["Content-Type"] = "application/json";
        }
      }
      const response = await fetch(url, init);
      let data = null;
      const type = response.headers.get("Content-Type") || "";
      if (type.includes("json")) { data = await response.json(); }
      return { ok: response.ok, status: response.status, data };
    },
    // The message of the platform's error body, or a generic one.
    errorMessage: function (result) {
      const error = result && result.data && result.data.error;
      if (error && error.message) { return error.message; }
      return gettext("The request failed. Please try again.");
    },
  };

  // Server-rendered <time data-local> elements keep their text unless the
  // page asks: nothing to do here. Elements with data-iso get formatted.
  document.querySelectorAll("time[data-format]").forEach(function (element) {
    const iso = element.getAttribute("datetime");
    element.textContent = element.dataset.format === "date" ? window.site.formatDate(iso) : window.site.formatDateTime(iso);
  });
})();
