-- A chat room: join "room:<anything>" with a name, send "new_msg", and everyone in the room gets it.
-- The room also keeps a small who-is-here list (like Phoenix.Presence, much simpler), and its last 50
-- messages, which a newcomer gets in the join reply.
--
-- Client → server:  join "room:lobby" with {name = "alice"};  push "new_msg" {body = "hi"}
-- Server → client:  join reply {name = "alice", messages = {{user = "bob", body = "earlier"}, ...}}
-- Server → clients: "new_msg" {user = "alice", body = "hi"}   (a broadcast: everyone, the sender too)
--                   "presence" {users = {"alice", "bob"}}      (pushed whenever the list changes)
local channel = {
  topic = "room:*",
  -- These broadcasts are between the channels of the room: each subscriber's handle_out sees them,
  -- and the clients never do. new_msg is not intercepted: it goes to the clients as it is.
  intercept = { "presence_hello", "presence_here", "presence_bye" },
}

local MAX_NAME, MAX_BODY, HISTORY = 32, 2000, 50

-- The room's recent messages live in phx.kv, the node's key-value store: every Lua VM of the server
-- (one per event loop) sees the same list, and phx.kv.push appends and trims it in one step.
local function history_key(socket) return "history:" .. socket.topic end

-- A string, trimmed; nil when it is not a string or is empty after trimming.
local function trimmed(value)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  if value == "" then return nil end
  return value
end

-- An id for this channel (one per client and room). socket.id is set only by a socket.lua's id(),
-- and join_ref is unique only within one connection, so make one up: Lua seeds math.random
-- differently in every VM.
local function new_member_id()
  return string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function channel.join(topic, payload, socket)
  local name = trimmed(payload.name)
  if not name then return phx.error({ reason = "a name is required" }) end
  if #name > MAX_NAME then return phx.error({ reason = "that name is too long" }) end
  socket.assigns.name = name
  socket.assigns.member = new_member_id()
  socket.assigns.members = { [socket.assigns.member] = name }
  -- Broadcasting is not allowed inside join (the client has no reply yet): do it right after.
  phx.send_after(socket, 0, "after_join")
  local messages = phx.kv.range(history_key(socket), HISTORY) or {}
  return phx.ok({ name = name, messages = phx.array(messages) })
end

function channel.handle_in(event, payload, socket)
  if event == "new_msg" then
    local body = trimmed(payload.body)
    if not body then return phx.error({ reason = "empty message" }) end
    if #body > MAX_BODY then return phx.error({ reason = "message too long" }) end
    local message = { user = socket.assigns.name, body = body }
    local _, err = phx.kv.push(history_key(socket), message, HISTORY)
    if err then return phx.error({ reason = "not stored: " .. err }) end
    phx.broadcast(socket, "new_msg", message)
    return phx.ok()
  end
  return phx.error({ reason = "unknown event " .. event })
end

-- The who-is-here list.
--
-- Each event loop of the server has its own Lua VM, so the room's channels cannot share a Lua table:
-- every channel keeps its own copy of the list (socket.assigns.members, id → name) and the channels
-- keep each other up to date with broadcasts:
--   * a newcomer broadcasts presence_hello {id, name};
--   * every other member adds it, and answers with presence_here {id, name} so the newcomer learns
--     who was already there;
--   * a member that leaves (or whose connection closes) broadcasts presence_bye {id}.
-- Adding and removing are idempotent, so the order the broadcasts arrive in does not matter.
local function push_presence(socket)
  local users = {}
  for _, name in pairs(socket.assigns.members) do users[#users + 1] = name end
  table.sort(users)
  phx.push(socket, "presence", { users = phx.array(users) })
end

function channel.handle_info(msg, socket)
  if msg == "after_join" then
    phx.broadcast(socket, "presence_hello", { id = socket.assigns.member, name = socket.assigns.name })
    push_presence(socket)
  end
  return phx.noreply()
end

function channel.handle_out(event, payload, socket)
  local members = socket.assigns.members
  if payload.id == socket.assigns.member then return phx.noreply() end  -- our own broadcast
  if event == "presence_hello" or event == "presence_here" then
    local known = members[payload.id] ~= nil
    members[payload.id] = payload.name
    if event == "presence_hello" then
      phx.broadcast(socket, "presence_here", { id = socket.assigns.member, name = socket.assigns.name })
    end
    if not known then push_presence(socket) end
  elseif event == "presence_bye" then
    if members[payload.id] ~= nil then
      members[payload.id] = nil
      push_presence(socket)
    end
  end
  return phx.noreply()
end

function channel.terminate(reason, socket)
  phx.broadcast(socket, "presence_bye", { id = socket.assigns.member })
end

return channel
