// The wall (大屏) measures the screen it is shown on. The server draws the map for a pixel size (the
// view's zoom fits the city into it), but a Streamlit script cannot see the browser's size. So the
// wall page loads this file (same origin, allowed by the CSP's script-src 'self'), which writes the
// viewport's size into the URL as ?screen=WxH and reloads once when it differs from what the server
// used. The documented URL (/?wall=1) then fills a 1920×1080 or a 3840×2160 screen alike.
// A resize (the wall's window moved to another screen) measures again after it settles.
(function () {
  "use strict";
  if (window.__cityopsWallViewport) {
    return; // the script element is re-created on every rerun of the page: install once
  }
  window.__cityopsWallViewport = true;

  var KEY = "cityops-wall-reloads";
  var MAX_RELOADS = 3;       // per minute: never loop if the size keeps changing
  var SETTLE_MS = 1500;

  function measured() {
    return Math.round(window.innerWidth) + "x" + Math.round(window.innerHeight);
  }

  function recentReloads() {
    var now = Date.now();
    var list;
    try {
      list = JSON.parse(window.sessionStorage.getItem(KEY) || "[]");
    } catch (e) {
      list = [];
    }
    return list.filter(function (t) { return now - t < 60000; });
  }

  function check() {
    var url = new URL(window.location.href);
    if (url.searchParams.get("wall") !== "1") {
      return;
    }
    var size = measured();
    if (url.searchParams.get("screen") === size) {
      return;
    }
    var reloads = recentReloads();
    if (reloads.length >= MAX_RELOADS) {
      return;
    }
    reloads.push(Date.now());
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(reloads));
    } catch (e) {
      return; // without a counter a reload could repeat: keep the page as it is
    }
    url.searchParams.set("screen", size);
    window.location.replace(url.toString());
  }

  var timer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, SETTLE_MS);
  });
  check();
})();
