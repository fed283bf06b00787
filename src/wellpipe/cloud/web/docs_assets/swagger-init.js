// Starts Swagger UI on /api/docs. A file, not an inline script: the page's
// Content-Security-Policy runs scripts from this origin only.
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    // FastAPI's defaults, so the page looks as it did.
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    // No badge image from validator.swagger.io: nothing on this page leaves this origin.
    validatorUrl: null,
    // The API key stays in this tab's memory; it is never written to localStorage.
    persistAuthorization: false,
  });
})();
