// RequireJS paths for the widget scripts served next to this file (see code/bookext/__init__.py):
// "anywidget" is the anywidget front-end, so html-manager never falls back to a CDN, and
// html-manager's own module URL decides where its bundled CSS looks for its Font Awesome
// fonts (vendored under html-manager/dist/). Loaded after require.js, before embed-amd.js.
(function () {
  var src = document.currentScript.src.split("?")[0];
  var base = src.slice(0, src.lastIndexOf("/") + 1);
  window.requirejs.config({
    paths: {
      anywidget: base + "anywidget",
      "@jupyter-widgets/html-manager": base + "html-manager",
    },
  });
})();
