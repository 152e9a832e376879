// Baseline: a minimal Node.js Socket.IO chat relay (no database, no auth, no state).
// Same wire protocol as bench/relay_py.py: a tab connects to namespace /_event with query
// user=<id> and joins room u<id>; "send" {to, cid, body} is stamped with an id and emitted to
// both members' rooms as an "event" shaped like chatapp's feed update.
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 8000);
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('"pong"');
});
const io = new Server(server, { path: "/_event", transports: ["websocket"], serveClient: false });
let nextId = 1;

const nsp = io.of("/_event");
nsp.on("connection", (socket) => {
  const me = Number(socket.handshake.query.user || 0);
  socket.join(`u${me}`);
  socket.on("send", (data) => {
    const at = Date.now();
    const item = {
      id: nextId++,
      cid: data.cid,
      conv: data.conv || 0,
      sender: me,
      body: data.body,
      at,
      status: "sent",
    };
    const row = { id: item.conv, last_id: item.id, last_at: at, preview: String(data.body).slice(0, 80) };
    const update = { delta: { chat: { feed: { ops: [{ t: "msg", item }, { t: "conv", item: row }] } } } };
    nsp.to([`u${Number(data.to)}`, `u${me}`]).emit("event", update);
  });
});

server.listen(port, "127.0.0.1");
