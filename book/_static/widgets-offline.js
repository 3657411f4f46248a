/* Saved ipywidgets on the static site, without a CDN.
 *
 * Loaded between require.js and the embed manager (embed-amd.js), both served
 * from _static/vendor/widgets/ (see book/_ext/vendor_assets.py):
 * 1. tell require.js where the embed manager lives, so the icon fonts it ships
 *    are fetched from _static/vendor/widgets/ and not relative to each page;
 * 2. the widget labels are typeset with the MathJax 2 call MathJax.Hub.Queue,
 *    which the site's MathJax 3 lacks; forward it to MathJax 3's typesetPromise.
 */
(function () {
  "use strict";
  var staticRoot = document.currentScript.src.replace(/[^/]*$/, "");
  window.require.config({
    paths: { "@jupyter-widgets/html-manager/dist": staticRoot + "vendor/widgets" },
  });

  // Runs before the embed manager's own listener (registered later), after MathJax's deferred load.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) {
      return;
    }
    mathjax.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (job) {
          if (Array.isArray(job) && job[0] === "Typeset") {
            var nodes = job[2] ? [job[2]] : undefined;
            mathjax.startup.promise.then(function () {
              return mathjax.typesetPromise(nodes);
            });
          }
        });
      },
    };
  });
})();
