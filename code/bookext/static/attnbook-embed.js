// attnbook-embed.js: draws the book's anywidget figures on the static website from the widget
// state the page embeds -- without @jupyter-widgets/html-manager (3.5 MB) and require.js.
//
// myst-nb writes the notebook's widget state into the page once
// (<script type="application/vnd.jupyter.widget-state+json">) and one
// <script type="application/vnd.jupyter.widget-view+json"> where each figure was displayed.
// For each view whose model is an anywidget model, this loader builds a small model object
// (get / set / on / off / save_changes, synchronous change events, no kernel), imports the
// model's `_esm` front-end (a URL, or its source through a blob: URL; once each), adds its `_css` once,
// and calls its `render({model, el})` in a <div> placed before the view's script.
//
// bookext (code/bookext/__init__.py) loads this file instead of the full widget manager only
// on pages whose displayed widgets are all anywidget models; any other page keeps the standard
// manager. A view this loader cannot draw is reported with console.error (the browser tests fail
// on it). The live Jupyter path never sees this file.
(function () {
  "use strict";

  var STATE = "application/vnd.jupyter.widget-state+json";
  var VIEW = "application/vnd.jupyter.widget-view+json";

  // base64 -> DataView (what the widget managers hand to front-ends for binary traits); natively
  // where the browser can (Chromium 140+, Firefox 133+, Safari 18.2+)
  function decodeBase64(text) {
    if (typeof Uint8Array.fromBase64 === "function") return new DataView(Uint8Array.fromBase64(text).buffer);
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new DataView(bytes.buffer);
  }

  // A model's state with its binary buffers put back at their paths.
  function modelState(entry) {
    var state = Object.assign({}, entry.state);
    (entry.buffers || []).forEach(function (buffer) {
      if (buffer.encoding !== "base64") throw new Error("unsupported buffer encoding " + buffer.encoding);
      var target = state;
      var path = buffer.path;
      for (var i = 0; i < path.length - 1; i++) target = target[path[i]];
      target[path[path.length - 1]] = decodeBase64(buffer.data);
    });
    return state;
  }

  // The part of anywidget's model interface a front-end uses, without a kernel behind it.
  function Model(state) {
    this.state = state;
    this.listeners = {};
    this.widget_manager = {
      get_model: function () {
        return Promise.reject(new Error("no widget manager on the static site"));
      },
    };
  }
  Model.prototype.get = function (name) {
    return this.state[name];
  };
  Model.prototype.set = function (name, value) {
    if (this.state[name] === value) return;
    this.state[name] = value;
    (this.listeners["change:" + name] || []).slice().forEach(function (fn) {
      fn({ name: name, new: value });
    });
  };
  Model.prototype.on = function (event, fn) {
    (this.listeners[event] = this.listeners[event] || []).push(fn);
  };
  Model.prototype.off = function (event, fn) {
    var list = this.listeners[event] || [];
    this.listeners[event] = fn ? list.filter(function (f) { return f !== fn; }) : [];
  };
  Model.prototype.save_changes = function () {}; // nobody to tell
  Model.prototype.send = function () {};

  // `_esm` is the module's source, or (one line ending in .js, as bookext writes for the
  // explorer) a URL relative to the page.
  function isUrl(esm) {
    return esm.indexOf("\n") < 0 && /\.m?js(\?[^\s]*)?$/.test(esm);
  }

  var modules = {};
  function loadModule(esm) {
    if (!modules[esm]) {
      var url = isUrl(esm) ? new URL(esm, document.baseURI).href
        : URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
      modules[esm] = import(url).then(function (mod) {
        var widget = mod.default;
        return typeof widget === "function" ? widget() : widget;
      });
    }
    return modules[esm];
  }

  var styled = {};
  function addStyle(id, css) {
    if (!css || styled[id]) return;
    styled[id] = true;
    var style = document.createElement("style");
    style.dataset.anywidget = id;
    style.textContent = css;
    document.head.appendChild(style);
  }

  function renderView(spec, script, state) {
    var entry = state[spec.model_id];
    if (!entry || entry.model_module !== "anywidget" || typeof (entry.state || {})._esm !== "string") {
      var kind = entry ? entry.model_module + "/" + entry.model_name : "a model missing from the page";
      console.error("attnbook-embed: cannot draw " + kind + " (" + spec.model_id + ") without the full widget manager");
      return Promise.resolve();
    }
    var el = document.createElement("div");
    el.className = "attnbook-widget";
    script.parentNode.insertBefore(el, script);
    var model = new Model(modelState(entry));
    addStyle(model.get("_anywidget_id") || spec.model_id, model.get("_css"));
    return loadModule(model.get("_esm")).then(function (widget) {
      if (widget.initialize) widget.initialize({ model: model });
      return widget.render({ model: model, el: el });
    }).catch(function (error) {
      console.error("attnbook-embed: widget " + spec.model_id + " failed to render:", error);
    });
  }

  var state = null;
  function readState() {
    if (state === null) {
      var holder = document.querySelector('script[type="' + STATE + '"]');
      if (!holder) return {}; // not parsed yet: look again later
      state = JSON.parse(holder.textContent).state;
    }
    return state;
  }

  // Views are drawn as soon as the parser has passed them: `waiting` holds the view <script>s
  // seen but not drawn yet.
  var waiting = [];
  var rendering = [];
  function renderWaiting() {
    waiting.forEach(function (script) {
      var spec;
      try {
        spec = JSON.parse(script.textContent);
      } catch (error) {
        console.error("attnbook-embed: a widget view that is not JSON:", error);
        return;
      }
      rendering.push(renderView(spec, script, readState()));
    });
    waiting = [];
  }

  function isView(node) {
    return Boolean(node) && node.nodeName === "SCRIPT" && node.type === VIEW;
  }

  // Resolves once the browser has rendered a frame after this call: the figures drawn by then are
  // on screen.
  function nextFrame() {
    return new Promise(function (resolve) {
      requestAnimationFrame(function () { setTimeout(resolve, 0); });
    });
  }

  // MathJax (a deferred script, configured by an inline `window.MathJax = {...}` before this one)
  // typesets once the figures are drawn and shown: typesetting a chapter's formulas holds the main
  // thread for longer than drawing every explorer (no frame is painted meanwhile), and the
  // explorers are what a reader operates.
  function typesetAfter(drawn) {
    var config = window.MathJax;
    if (!config || typeof config !== "object" || config.version) return; // none, or already running
    var startup = (config.startup = config.startup || {});
    if (startup.pageReady) return; // someone else's
    startup.pageReady = function () {
      return drawn.then(nextFrame).then(function () { return window.MathJax.startup.defaultPageReady(); });
    };
  }

  // Start fetching the front-ends while the rest of the page loads (the state comes before this
  // script in the page's head), and draw each view as soon as the parser has passed it: bookext
  // writes `<script>attnbookEmbed.draw(document.currentScript)</script>` after each view
  // (_light_widget_pages), so a chapter's explorers draw while the rest of the chapter is still
  // being parsed, laid out and painted (most of a first visit on a slow CPU), not after all of
  // it, and without watching every node the parser inserts. Views without one are drawn once
  // the page is parsed.
  function start() {
    var models = readState();
    Object.keys(models).forEach(function (id) {
      var entry = models[id];
      if (entry.model_module === "anywidget" && typeof (entry.state || {})._esm === "string") {
        loadModule(entry.state._esm).catch(function () {}); // reported when its view renders
      }
    });
    var seen = [];
    function add(script) {
      if (isView(script) && seen.indexOf(script) < 0) {
        seen.push(script);
        waiting.push(script);
      }
    }
    window.attnbookEmbed = {
      draw: function (trigger) {
        add(trigger.previousElementSibling);
        renderWaiting();
      },
    };
    var drawn = new Promise(function (resolve) {
      function parsed() {
        Array.prototype.forEach.call(document.querySelectorAll('script[type="' + VIEW + '"]'), add);
        renderWaiting();
        resolve(Promise.all(rendering));
      }
      if (document.readyState !== "loading") return parsed();
      // "interactive" comes when the document is parsed, before the deferred scripts (the
      // theme's, MathJax's 1.1 MB) run and long before DOMContentLoaded.
      document.addEventListener("readystatechange", function once() {
        document.removeEventListener("readystatechange", once);
        parsed();
      });
    });
    typesetAfter(drawn);
  }

  if (typeof module === "object" && module.exports) {
    module.exports = { decodeBase64: decodeBase64, isUrl: isUrl, modelState: modelState, Model: Model }; // node tests
  } else {
    start();
  }
})();
