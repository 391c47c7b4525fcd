-- A chat room whose rules live in the application's backend, reached over HTTP (phx.http.request).
--
-- Client → server:  join "room:lobby" with {user = "ada"};  push "new_msg" {body = "hi"}
-- Server → backend: GET /authorize?user=ada&room=lobby      (join waits for the answer)
--                   POST /messages {room, user, body}        (handle_in waits for the answer)
-- Server → clients: "new_msg" {user = "Ada", body = "hi", id = 7}   (once the backend stored it)
--
-- Each call suspends only this channel's callback: the event loop serves every other client
-- meanwhile, and this channel's later messages wait their turn (its mailbox).
local backend = require("backend")
local channel = { topic = "room:*" }

-- Query-string escaping (RFC 3986 unreserved characters stay).
local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function reason_of(response)
  local decoded = phx.json.decode(response.body)
  return type(decoded) == "table" and decoded.reason or ("backend answered " .. response.status)
end

function channel.join(topic, payload, socket)
  if type(payload.user) ~= "string" or payload.user == "" then return phx.error({ reason = "a user is required" }) end
  local room = topic:sub(#"room:" + 1)
  local response, err = phx.http.request{
    url = backend.url .. "/authorize?user=" .. escape(payload.user) .. "&room=" .. escape(room),
    timeout_ms = 2000,
  }
  if not response then return phx.error({ reason = "backend unavailable: " .. err }) end
  if response.status ~= 200 then return phx.error({ reason = reason_of(response) }) end
  local user = phx.json.decode(response.body)
  socket.assigns.user = user.user
  socket.assigns.display = user.display
  return phx.ok({ display = user.display })
end

function channel.handle_in(event, payload, socket)
  if event ~= "new_msg" then return phx.error({ reason = "unknown event " .. event }) end
  if type(payload.body) ~= "string" or payload.body == "" then return phx.error({ reason = "empty message" }) end
  local room = socket.topic:sub(#"room:" + 1)
  local response, err = phx.http.request{
    method = "POST",
    url = backend.url .. "/messages",
    headers = { ["content-type"] = "application/json" },
    body = phx.json.encode({ room = room, user = socket.assigns.user, body = payload.body }),
    timeout_ms = 2000,
  }
  if not response then return phx.error({ reason = "not stored: " .. err }) end
  if response.status ~= 201 then return phx.error({ reason = reason_of(response) }) end
  local id = phx.json.decode(response.body).id
  phx.broadcast(socket, "new_msg", { user = socket.assigns.display, body = payload.body, id = id })
  return phx.ok({ id = id })
end

return channel
