// Swagger UI from the vendored bundle, pointed at this server's OpenAPI document.
(function () {
  var node = document.getElementById("swagger-ui");
  if (!node || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({ url: node.dataset.specUrl, domNode: node, deepLinking: false });
})();
