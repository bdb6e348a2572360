// SPDX-License-Identifier: MIT
// node DIR TAG: the node half of test_service.sh's two concurrent sessions.
// Writes DIR/TAG.ready, waits (at most 60 s) for DIR/go, then one fetch of
// https://a.service.test/TAG/node (transparent: node does not read the proxy
// environment; the kernel redirects it to ward's proxy); prints the path the
// upstream saw.
const fs = require("fs");
const [dir, tag] = process.argv.slice(2);
fs.writeFileSync(`${dir}/${tag}.ready`, "");
const t0 = Date.now();
(function wait() {
  if (fs.existsSync(`${dir}/go`)) return go();
  if (Date.now() - t0 > 60000) {
    console.log("no go");
    process.exit(2);
  }
  setTimeout(wait, 20);
})();
function go() {
  fetch(`https://a.service.test/${tag}/node`)
    .then((r) => r.json())
    .then((d) => console.log(d.path))
    .catch((e) => {
      console.log("ERR", e.cause || e);
      process.exit(1);
    });
}
