-- A chat room: join "room:<anything>" with a name, send "new_msg", and everyone in the room gets it.
-- Who is here is Phoenix.Presence (phx.presence): each member is tracked under its name, the page keeps
-- the list from presence_state and presence_diff, and "is typing" is a meta changed with update.
-- The room also keeps its last 50 messages, which a newcomer gets in the join reply.
--
-- Client → server:  join "room:lobby" with {name = "alice"};  push "new_msg" {body = "hi"};
--                   push "typing" {typing = true | false}
-- Server → client:  join reply {name = "alice", messages = {{user = "bob", body = "earlier"}, ...}}
-- Server → clients: "new_msg" {user = "alice", body = "hi"}   (a broadcast: everyone, the sender too)
--                   "presence_state" {alice = {metas = {{typing = false, online_at = …, phx_ref = …}}}}
--                                                             (pushed to the joiner, right after its join)
--                   "presence_diff" {joins = {…}, leaves = {…}} (a broadcast whenever the list changes)
local channel = { topic = "room:*" }

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

function channel.join(topic, payload, socket)
  local name = trimmed(payload.name)
  if not name then return phx.error({ reason = "a name is required" }) end
  if #name > MAX_NAME then return phx.error({ reason = "that name is too long" }) end
  socket.assigns.name = name
  socket.assigns.online_at = os.time()
  -- Presence is not for join (the client has no reply yet): track right after, as the Phoenix guide does.
  phx.send_after(socket, 0, "after_join")
  local messages = phx.kv.range(history_key(socket), HISTORY) or {}
  return phx.ok({ name = name, messages = phx.array(messages) })
end

-- The meta everyone sees for this member. Two tabs with one name are two metas under that name.
local function meta(socket, typing)
  return { online_at = socket.assigns.online_at, typing = typing }
end

function channel.handle_info(msg, socket)
  if msg == "after_join" then
    phx.presence.track(socket, socket.assigns.name, meta(socket, false))
    phx.push(socket, "presence_state", phx.presence.list(socket))
  end
  return phx.noreply()
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
  elseif event == "typing" then
    local typing = payload.typing == true
    if socket.assigns.typing ~= typing then  -- only real changes make a diff
      socket.assigns.typing = typing
      phx.presence.update(socket, socket.assigns.name, meta(socket, typing))
    end
    return phx.ok()
  end
  return phx.error({ reason = "unknown event " .. event })
end

-- Nothing to do when a member leaves or its connection closes: its presence goes with its channel,
-- and everyone else gets the leave in a presence_diff.

return channel
