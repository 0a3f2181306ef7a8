// Swagger UI from the vendored bundle, pointed at this server's OpenAPI document.
//
// Swagger's BaseLayout renders its own <main> and an <h1> title, which would nest a second main landmark inside the
// page's and break the heading order. MomentumLayout is the same layout with a plain container instead of <main>,
// and the API title as an <h2> under the page's <h1> (the page links the OpenAPI document itself).
(function () {
  var node = document.getElementById("swagger-ui");
  if (!node || !window.SwaggerUIBundle) return;

  function MomentumDocsPlugin(system) {
    var h = system.React.createElement;

    function MomentumInfo(props) {
      var info = props.specSelectors.info();
      var Markdown = props.getComponent("Markdown", true);
      var version = info.get("version");
      return h("div", { className: "info" },
        h("h2", { className: "title" }, info.get("title"), version ? " " + version : ""),
        info.get("description") ? h("div", { className: "description" }, h(Markdown, { source: info.get("description") })) : null);
    }

    function MomentumLayout(props) {
      var get = props.getComponent;
      var spec = props.specSelectors;
      var Row = get("Row");
      var Col = get("Col");
      var Errors = get("errors", true);
      var status = spec.loadingStatus();
      if (status === "loading" || status === "failed" || !spec.specStr()) {
        return h("div", { className: "swagger-ui" }, h("div", { className: "loading-container" },
          status === "loading" ? h("div", { className: "loading" }) : h(Errors)));
      }
      var servers = spec.servers();
      var schemes = spec.schemes();
      var hasServers = servers && servers.size;
      var hasSchemes = schemes && schemes.size;
      var hasSecurity = !!spec.securityDefinitions();
      var isOAS31 = spec.isOAS31() || (spec.isOAS32 && spec.isOAS32());
      function full(child) { return h(Row, null, h(Col, { mobile: 12, desktop: 12 }, child)); }
      return h("div", { className: "swagger-ui" },
        h(get("SvgAssets")),
        h(get("VersionPragmaFilter"), {
          isSwagger2: spec.isSwagger2(), isOAS3: spec.isOAS3(), isOAS31: spec.isOAS31(),
          isOAS32: spec.isOAS32 ? spec.isOAS32() : false, alsoShow: h(Errors)
        },
          h(Errors),
          h(Row, { className: "information-container" }, h(Col, { mobile: 12 }, h(get("MomentumInfo", true)))),
          hasServers || hasSchemes || hasSecurity ? h("div", { className: "scheme-container" },
            h(Col, { className: "schemes wrapper", mobile: 12 },
              hasServers || hasSchemes ? h("div", { className: "schemes-server-container" },
                hasServers ? h(get("ServersContainer", true)) : null,
                hasSchemes ? h(get("SchemesContainer", true)) : null) : null,
              hasSecurity ? h(get("AuthorizeBtnContainer", true)) : null)) : null,
          h(get("FilterContainer", true)),
          h("div", { id: "operations" },
            full(h(get("operations", true))),
            isOAS31 ? h(Row, { className: "webhooks-container" }, h(Col, { mobile: 12, desktop: 12 }, h(get("Webhooks", true)))) : null,
            full(h(get("Models", true))))));
    }

    return { components: { MomentumLayout: MomentumLayout, MomentumInfo: MomentumInfo } };
  }

  // A few of Swagger UI's controls have no accessible name, or a name that differs from their visible text (which
  // breaks speech input). Swagger UI is English only, so the names are too.
  function nameControls() {
    node.querySelectorAll("textarea.body-param__text:not([aria-label])").forEach(function (el) {
      el.setAttribute("aria-label", "Request body");
    });
    node.querySelectorAll("button.close-modal:not([aria-label])").forEach(function (el) {
      el.setAttribute("aria-label", "Close");
    });
    node.querySelectorAll(".auth-btn-wrapper button[aria-label]").forEach(function (el) {
      el.removeAttribute("aria-label");
    });
  }
  new MutationObserver(nameControls).observe(node, { childList: true, subtree: true });

  window.SwaggerUIBundle({
    url: node.dataset.specUrl,
    domNode: node,
    deepLinking: false,
    plugins: [MomentumDocsPlugin],
    layout: "MomentumLayout"
  });
})();
