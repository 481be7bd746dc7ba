// Helpers for the key form that need no page: kept in their own file so
// that a test can run them outside a browser (server/web_test.go).
"use strict";

// keyPath percent-encodes a key as one path segment. encodeURIComponent
// leaves "." alone, and the keys "." and ".." would then be dot segments
// that the browser drops before sending: /get/.. would go out as GET /,
// and the page itself would come back instead of the key.
function keyPath(key) {
  if (key === "." || key === "..") return key.replace(/\./g, "%2E");
  return encodeURIComponent(key);
}

// isJSON reports whether a Content-Type names JSON: every answer of the
// distributor's API is JSON, so anything else did not come from it.
function isJSON(contentType) {
  return /^application\/json\s*(;|$)/i.test(contentType || "");
}
