// Helpers for the key form that need no page: kept in their own file so
// that a test can run them outside a browser (server/web_test.go).
"use strict";

// keyURL is the URL of a key route (prefix "/get" or "/delete") for key.
// The key goes in the path, percent-encoded, except the keys "." and "..":
// as path segments, even percent-encoded (%2E%2E), the browser treats them
// as dot segments and drops them before sending (/get/.. goes out as GET
// /), so those two go in the query, which the distributor also accepts.
function keyURL(prefix, key) {
  if (key === "." || key === "..") return prefix + "?clave=" + encodeURIComponent(key);
  return prefix + "/" + encodeURIComponent(key);
}

// isJSON reports whether a Content-Type names JSON: every answer of the
// distributor's API is JSON, so anything else did not come from it.
function isJSON(contentType) {
  return /^application\/json\s*(;|$)/i.test(contentType || "");
}
