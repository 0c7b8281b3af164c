// The build step (npm run build): writes what the server serves, so that a
// running release shows its build ran, and where.
"use strict";

const fs = require("fs");
const path = require("path");

const out = path.join(__dirname, "dist");
fs.mkdirSync(out, { recursive: true });
const built = {
  message: "hello from node",
  node: process.version,
  builtBy: process.getuid ? process.getuid() : null,
};
fs.writeFileSync(path.join(out, "hello.json"), JSON.stringify(built) + "\n");
console.log("built dist/hello.json with node " + process.version);
