// A minimal prosper app: the standard library only, listens on $PORT and
// serves what the build (build.js) wrote.
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");

const hello = fs.readFileSync(path.join(__dirname, "dist", "hello.json"));

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
  } else if (req.url === "/") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(hello);
  } else {
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end('{"error": "not found"}\n');
  }
  // One line per request on stderr, which prosper captures as the app's log.
  console.error(`${req.method} ${req.url} ${res.statusCode}`);
});

const port = Number(process.env.PORT || 8080);
server.listen(port, () => console.log(`listening on port ${port}`));

// SIGTERM is how the platform stops a release: finish the requests in flight.
process.on("SIGTERM", () => server.close(() => process.exit(0)));
